"""One entry point for writing an export in any format to a binary file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO

from .columns import ExportRow
from .csv_writer import csv_chunks
from .schemas import ExportFormat, ExportMeta
from .xlsx_writer import write_xlsx


def write_export(
    fmt: ExportFormat,
    rows: Iterable[ExportRow],
    meta: ExportMeta,
    out: IO[bytes],
    *,
    font_path: Path | None = None,
) -> None:
    """Write ``rows`` as ``fmt`` to ``out``."""
    if fmt is ExportFormat.XLSX:
        write_xlsx(rows, meta, out)
    elif fmt is ExportFormat.PDF:
        # ReportLab and the font load on the first PDF, not in every process that starts.
        from .pdf_writer import write_pdf

        write_pdf(rows, meta, out, font_path=font_path)
    else:
        for chunk in csv_chunks(rows):
            out.write(chunk)
