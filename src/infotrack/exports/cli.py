"""``infotrack export``: the history as a file, with the reader's scope and masking.

The file appears only when complete (written beside it, then renamed): an export that fails
half-way leaves nothing that looks like a finished file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infotrack.audit.access_log import AccessContext
from infotrack.config import Settings
from infotrack.history.cli import cli_reader
from infotrack.history.schemas import TrailFilters
from infotrack.runtime import Runtime

from .columns import ExportRow
from .schemas import parse_format
from .service import ExportService
from .writer import write_export


def export_command(
    settings: Settings,
    err: Console,
    filters: TrailFilters,
    *,
    fmt: str,
    out: str,
    as_user: str | None,
) -> int:
    """Write the export to ``out`` (``-`` for standard output); returns the row count."""
    export_format = parse_format(fmt)
    runtime = Runtime.build(settings)
    try:
        identity, scope = cli_reader(runtime, as_user)
        service = ExportService(runtime)
        plan = service.prepare(filters, scope, AccessContext(identity, "cli"), export_format)
        progress = Progress(
            TextColumn("导出中"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal,  # quiet when piped or redirected
        )
        with progress:
            task = progress.add_task("export", total=plan.meta.row_count)
            rows = _ticking(service.rows(plan), lambda n: progress.advance(task, n))

            def write(target: IO[bytes]) -> None:
                write_export(export_format, rows, plan.meta, target, font_path=settings.pdf_font)

            if out == "-":
                write(sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                _write_atomically(Path(out), write)
    finally:
        runtime.sources.dispose()
    if out != "-":
        err.print(f"已导出 {plan.meta.row_count} 条记录到 {out}")
    return plan.meta.row_count


def _ticking(rows: Iterable[ExportRow], advance: Callable[[int], None]) -> Iterator[ExportRow]:
    """The rows, reporting progress every thousand."""
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending == 1_000:
            advance(pending)
            pending = 0
    advance(pending)


def _write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write to ``path.part`` and rename it into place once complete."""
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as target:
            write(target)
            target.flush()
            os.fsync(target.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
