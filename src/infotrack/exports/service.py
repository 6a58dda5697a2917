"""An export is a history query written to a file: same filters, same scope, same masking.

:meth:`ExportService.prepare` counts what the reader may export, refuses more than the format's
limit, and writes the access-log entry; :meth:`ExportService.rows` then streams those rows in
keyset chunks, so memory stays flat whatever the count. Blocking: call from a worker thread.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from infotrack.audit.access_log import AccessContext, record_access
from infotrack.db import scan_reader
from infotrack.errors import BadRequest
from infotrack.history.query import TrailQuery, read_page
from infotrack.history.schemas import TrailFilters
from infotrack.history.scope import ReadScope, trail_clause
from infotrack.kit.clock import local_now
from infotrack.kit.masking import mask_phones
from infotrack.kit.prefetch import prefetched
from infotrack.models.informationtra import informationtra
from infotrack.runtime import Runtime
from infotrack.tracking.events import EVENT_LABELS, EventType

from .columns import SOURCE_LABELS, ExportRow
from .schemas import ExportFormat, ExportMeta, describe, file_name, row_limit

CHUNK_ROWS = 2_000

t = informationtra.c
_COLUMNS = (
    t.id,
    t.tracompany,
    t.tradepartment,
    t.traorganization,
    t.trarole,
    t.trauserName,
    t.traassistant,
    t.userId,
    t.operationEvent,
    t.operationTime,
)
_EVENT_LABELS: dict[str, str] = {code.value: label for code, label in EVENT_LABELS.items()}
_OTHER_LABEL = EVENT_LABELS[EventType.OTHER]


@dataclass(frozen=True)
class ExportPlan:
    """A checked export: the rows it will hold, its description and its file name."""

    fmt: ExportFormat
    conds: list[ColumnElement[bool]]
    masked: bool
    meta: ExportMeta
    file_name: str


class ExportService:
    """Exports for one process."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._query = TrailQuery(runtime.settings, runtime.sources.wechat.dialect.name)

    def prepare(
        self, filters: TrailFilters, scope: ReadScope, ctx: AccessContext, fmt: ExportFormat
    ) -> ExportPlan:
        """Count, check the limit, log the read; raises :class:`BadRequest` over the limit."""
        settings = self._rt.settings
        customers = self._rt.resolver.all_matches(filters.phone) if filters.phone else None
        conds = self._query.where(filters, trail_clause(scope), customers)
        with scan_reader(self._rt.sources.wechat) as fetch:
            newest = fetch(select(func.max(t.id)))[0][0]
            # Rows that arrive while the file is written stay out of it: the file holds what
            # was counted (and logged), not a moving target.
            conds.append(t.id <= (newest or 0))
            count = int(fetch(select(func.count()).where(*conds))[0][0])
        limit = row_limit(settings, fmt)
        described = filters.described() | {"format": fmt.value}
        if count > limit:
            # Nothing is exported, but the attempt is worth an auditor's eye.
            record_access(
                self._rt.sources.wechat, settings.zone, ctx, "export_refused", described, count
            )
            raise BadRequest(
                f"符合条件的记录有 {count} 条,超过 {fmt.value.upper()} 导出上限 {limit} 条。"
                "请缩小筛选条件(例如时间范围、部门或操作人)后再导出。",
                code="export_too_large",
            )
        now = local_now(settings.zone)
        who = ctx.identity.name or ctx.identity.operator_id
        meta = describe(filters, scope, exported_by=who, exported_at=now, rows=count)
        record_access(self._rt.sources.wechat, settings.zone, ctx, "export", described, count)
        name = file_name(filters, fmt, now.date())
        return ExportPlan(fmt, conds, not scope.unmasked, meta, name)

    def rows(self, plan: ExportPlan) -> Iterator[ExportRow]:
        """The plan's rows, newest first.

        On MySQL the next chunks are read while this one is written: reading there is mostly
        waiting for the server. SQLite's reading is work in this process, which a second
        thread would only fight for the interpreter lock (measured: no gain, sometimes a loss).
        """
        seq = 0
        mask = mask_phones if plan.masked else _same
        chunks = (
            self._chunks(plan)
            if self._rt.sources.wechat.dialect.name == "sqlite"
            else prefetched(lambda: self._chunks(plan))
        )
        for chunk, named in chunks:
            for row in chunk:
                # Positional: a chunk is thousands of rows, attribute access adds up.
                (row_id, company, department, organization, role, operator, assistant,
                 customer_id, event, when, event_type, source) = row  # fmt: skip
                seq += 1
                yield ExportRow(
                    seq,
                    row_id,
                    company,
                    department,
                    organization,
                    role,
                    operator,
                    assistant,
                    customer_id,
                    mask(named[source].get(customer_id)),
                    SOURCE_LABELS.get(source, source),
                    _EVENT_LABELS.get(event_type, _OTHER_LABEL),
                    mask(event),
                    when,
                )

    def _chunks(self, plan: ExportPlan) -> Generator[tuple[list[Any], Names], None, None]:
        """Keyset chunks of the plan's rows on one connection, each with its customers' names."""
        after: tuple[datetime | None, int] | None = None
        names = _NameBook(self._rt)
        with scan_reader(self._rt.sources.wechat) as fetch:
            while True:
                queries = self._query.pages(plan.conds, after, columns=_COLUMNS)
                chunk = read_page(fetch, queries, CHUNK_ROWS)
                if not chunk:
                    return
                yield chunk, names.lookup(chunk)
                if len(chunk) < CHUNK_ROWS:
                    return
                last = chunk[-1]
                after = (last[9], last[0])  # operationTime, id


Names = dict[str, dict[str, str | None]]  # source -> customer id -> display name


class _NameBook:
    """Customers' display names for one export: the resolver's batched lookups behind plain
    dicts, emptied when they grow large (a million-row export meets many customers)."""

    LIMIT = 50_000

    def __init__(self, runtime: Runtime) -> None:
        self._resolver = runtime.resolver
        self._known: dict[tuple[str, str], str | None] = {}

    def lookup(self, chunk: list[Any]) -> Names:
        """The names of the customers of ``chunk`` (rows ending in userId … source), by source;
        a dict of its own, as the consumer reads it while the next chunk is looked up."""
        known = self._known
        refs = {(row[-1], row[7]) for row in chunk}
        wanted = {ref for ref in refs if ref not in known}
        if wanted:
            if len(known) + len(wanted) > self.LIMIT:
                known.clear()
                wanted = refs
            known.update(self._resolver.display_names(wanted))
        names: Names = {"wechat": {}, "primary": {}}
        for source, customer_id in refs:
            names.setdefault(source, {})[customer_id] = known[(source, customer_id)]
        return names


def _same(text: str | None) -> str | None:
    return text
