"""CSV for Excel on Windows: UTF-8 with a BOM, CRLF line ends, the header as the first row.

Produced as a stream of byte chunks, so an HTTP answer or a file can take it row group by
row group. Formula-like cells get a leading apostrophe (see :func:`neutralise`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from .columns import FORMULA_STARTS, HEADERS, ExportRow, neutralise

BOM = "\ufeff"
ROWS_PER_CHUNK = 1_000


def csv_chunks(rows: Iterable[ExportRow]) -> Iterator[bytes]:
    """The file's bytes, a thousand rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(HEADERS)
    pending = 0
    for row in rows:
        writer.writerow(_cells(row))
        pending += 1
        if pending == ROWS_PER_CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def _cells(row: ExportRow) -> list[object]:
    when = row.operation_time
    return [
        row.seq,
        row.id,
        *[(neutralise(v) if v[0] in FORMULA_STARTS else v) if v else "" for v in row[2:13]],
        when.isoformat(" ", "seconds") if when else "",
    ]
