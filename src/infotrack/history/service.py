"""Reading the trail back: pages of history, a customer's timeline, statistics.

Everything runs inside the reader's scope (a WHERE clause) and is written to the access log.
Blocking: the HTTP layer calls these from a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row

from infotrack.audit.access_log import AccessContext, record_access
from infotrack.errors import BadRequest
from infotrack.history.query import TrailQuery, read_page
from infotrack.history.schemas import TrailFilters
from infotrack.history.scope import ReadScope, trail_clause
from infotrack.kit.clock import local_now, to_aware
from infotrack.kit.cursor import InvalidCursor, decode_cursor, encode_cursor
from infotrack.kit.masking import mask_phones, mask_value
from infotrack.runtime import Runtime
from infotrack.tracking.events import EVENT_LABELS, EventType

DEFAULT_STATS_DAYS = 30


@dataclass(frozen=True)
class Page:
    """One page of history and the cursor of the next (``None`` at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class HistoryService:
    """History, timelines and statistics for one process."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._query = TrailQuery(runtime.settings, runtime.sources.wechat.dialect.name)
        self._key = runtime.tokens.cursor_key

    def search(
        self,
        filters: TrailFilters,
        scope: ReadScope,
        ctx: AccessContext,
        *,
        limit: int,
        cursor: str | None,
        action: str = "history",
    ) -> Page:
        """One page of matching records, newest first."""
        after = self._after(cursor)
        conds = self._query.where(filters, trail_clause(scope), self._customers(filters))
        with self._rt.sources.wechat.connect() as conn:
            rows = read_page(
                lambda query: list(conn.execute(query).all()),
                self._query.pages(conds, after),
                limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = self._items(rows, scope)
        next_cursor = None
        if more and rows:
            last = rows[-1]
            when = last.operationTime.isoformat() if last.operationTime else None
            next_cursor = encode_cursor([when, last.id], self._key)
        described = filters.described() | {"cursor": bool(cursor), "limit": limit}
        record_access(
            self._rt.sources.wechat, self._rt.settings.zone, ctx, action, described, len(items)
        )
        return Page(items, next_cursor)

    def stats(
        self, filters: TrailFilters, scope: ReadScope, ctx: AccessContext, group_by: str
    ) -> dict[str, Any]:
        """Counts per bucket; day buckets are zero-filled local days across the range."""
        if filters.start is None or filters.end is None:
            filters = self._default_range(filters)
        conds = self._query.where(filters, trail_clause(scope), self._customers(filters))
        counted: dict[str, int] = {}
        with self._rt.sources.wechat.connect() as conn:
            for query in self._query.counts(group_by, conds):
                for raw, n in conn.execute(query):
                    key = _key(group_by, raw)
                    counted[key] = counted.get(key, 0) + int(n)
        buckets = _arrange(group_by, counted, filters)
        total = sum(b["count"] for b in buckets)
        described = filters.described() | {"groupBy": group_by}
        record_access(
            self._rt.sources.wechat, self._rt.settings.zone, ctx, "stats", described, total
        )
        return {
            "groupBy": group_by,
            "from": to_aware(filters.start, self._rt.settings.zone).isoformat()
            if filters.start
            else None,
            "to": to_aware(filters.end, self._rt.settings.zone).isoformat()
            if filters.end
            else None,
            "buckets": buckets,
            "total": total,
        }

    def count(self, filters: TrailFilters, scope: ReadScope) -> int:
        """How many records match (for exports' limits)."""
        conds = self._query.where(filters, trail_clause(scope), self._customers(filters))
        with self._rt.sources.wechat.connect() as conn:
            return int(conn.execute(select(func.count()).where(*conds)).scalar_one())

    # --- helpers ------------------------------------------------------------------------------
    def _default_range(self, filters: TrailFilters) -> TrailFilters:
        now = local_now(self._rt.settings.zone)
        end = filters.end or now + timedelta(seconds=1)
        start = filters.start or end - timedelta(days=DEFAULT_STATS_DAYS)
        return TrailFilters(**{**filters.__dict__, "start": start, "end": end})

    def _customers(self, filters: TrailFilters) -> list[tuple[str, str]] | None:
        if filters.phone is None:
            return None
        return self._rt.resolver.all_matches(filters.phone)

    def _after(self, cursor: str | None) -> tuple[datetime | None, int] | None:
        if not cursor:
            return None
        try:
            when, row_id = decode_cursor(cursor, self._key)
            return (datetime.fromisoformat(when) if when else None, int(row_id))
        except (InvalidCursor, ValueError, TypeError):
            raise BadRequest(
                "cursor 无效:请使用上一页返回的 nextCursor", code="invalid_cursor"
            ) from None

    def _items(self, rows: Sequence[Row[Any]], scope: ReadScope) -> list[dict[str, Any]]:
        zone = self._rt.settings.zone
        refs = {(row.inferred_source, row.userId) for row in rows}
        names = self._rt.resolver.display_names(refs) if refs else {}
        mask = not scope.unmasked
        items = []
        for row in rows:
            event_type = row.inferred_event_type
            changes = json.loads(row.changes) if row.changes else None
            items.append(
                {
                    "id": row.id,
                    "tracompany": row.tracompany,
                    "tradepartment": row.tradepartment,
                    "traorganization": row.traorganization,
                    "trarole": row.trarole,
                    "trauserName": row.trauserName,
                    "traassistant": row.traassistant,
                    "userId": row.userId,
                    "operationEvent": mask_phones(row.operationEvent)
                    if mask
                    else row.operationEvent,
                    "operationTime": _iso(row.operationTime, zone),
                    "createdAt": _iso(row.created_at, zone),
                    "updatedAt": _iso(row.updated_at, zone),
                    "operatorId": row.operator_id,
                    "eventType": event_type,
                    "eventLabel": EVENT_LABELS.get(EventType(event_type), event_type)
                    if event_type in EventType._value2member_map_
                    else event_type,
                    "source": row.inferred_source,
                    "side": row.side,
                    "changes": mask_value(changes) if mask and changes else changes,
                    "customerName": names.get((row.inferred_source, row.userId)),
                }
            )
        return items


def _iso(value: datetime | None, zone: Any) -> str | None:
    return to_aware(value, zone).isoformat() if value else None


def _key(group_by: str, raw: Any) -> str:
    if raw is None:
        return ""
    if group_by == "day":
        return raw.isoformat() if isinstance(raw, date) else str(raw)[:10]
    if group_by == "hour":
        return str(int(raw))
    if group_by == "weekday_hour":
        value = int(raw)
        return f"{value // 100}-{value % 100:02d}"
    return str(raw)


def _arrange(group_by: str, counted: dict[str, int], filters: TrailFilters) -> list[dict[str, Any]]:
    """Zero-fill the calendar groupings; sort the others by count."""
    if group_by == "day" and filters.start and filters.end:
        keys = []
        day = filters.start.date()
        last = (filters.end - timedelta(microseconds=1)).date()
        while day <= last:
            keys.append(day.isoformat())
            day += timedelta(days=1)
    elif group_by == "hour":
        keys = [str(h) for h in range(24)]
    elif group_by == "weekday_hour":
        keys = [f"{d}-{h:02d}" for d in range(1, 8) for h in range(24)]
    else:
        ordered = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"key": k, "count": n} for k, n in ordered]
    return [{"key": k, "count": counted.get(k, 0)} for k in keys]
