"""``GET /api/information-tracking/export``: the history, as a file to hand on."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from infotrack.auth.deps import RuntimeDep
from infotrack.history.router import Access, Filters
from infotrack.history.scope import scope_for

from .csv_writer import csv_chunks
from .schemas import ExportFormat, content_disposition, parse_format
from .service import ExportPlan, ExportService
from .writer import write_export

router = APIRouter(prefix="/api/information-tracking", tags=["导出"])

READ_BLOCK = 1 << 20


async def export_service(runtime: RuntimeDep) -> ExportService:
    """A service for this request: cheap to make, next to the export it serves."""
    return ExportService(runtime)


Exports = Annotated[ExportService, Depends(export_service)]


@router.get(
    "/export",
    summary="导出操作记录(Excel / CSV / PDF)",
    response_class=StreamingResponse,
    responses={200: {"content": {fmt.media_type: {} for fmt in ExportFormat}}},
)
async def export(
    filters: Filters,
    exports: Exports,
    ctx: Access,
    runtime: RuntimeDep,
    format: Annotated[str | None, Query(description="xlsx | csv | pdf")] = None,
) -> StreamingResponse:
    """The records the reader may see, with the same filters, scope and masking as history.

    Over the format's row limit the export is refused (400); it is never cut short.
    """
    fmt = parse_format(format)
    scope = scope_for(ctx.identity, runtime.settings)
    plan = await run_in_threadpool(exports.prepare, filters, scope, ctx, fmt)
    headers = {
        "Content-Disposition": content_disposition(plan.file_name),
        "Cache-Control": "no-store",
    }
    if fmt is ExportFormat.CSV:
        # Written as it is read: the first bytes leave before the last row is fetched.
        body: Iterator[bytes] = csv_chunks(exports.rows(plan))
    else:
        # XLSX and PDF are finished only at the end (a zip directory, a page count), so they
        # are written to an anonymous temporary file and sent from there.
        file = await run_in_threadpool(_build, exports, plan, runtime.settings.pdf_font)
        headers["Content-Length"] = str(file.seek(0, 2))
        file.seek(0)
        body = _read_and_close(file)
    return StreamingResponse(body, media_type=fmt.media_type, headers=headers)


def _build(exports: ExportService, plan: ExportPlan, font: Path | None) -> IO[bytes]:
    file = tempfile.TemporaryFile()
    try:
        write_export(plan.fmt, exports.rows(plan), plan.meta, file, font_path=font)
    except BaseException:
        file.close()
        raise
    return file


def _read_and_close(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := file.read(READ_BLOCK):
            yield block
    finally:
        file.close()
