"""Rows of the trail and of the access log, read by id and turned into evaluator events.

Two feeds: ``informationtra`` (every row, the CRM's own included) and the exports recorded in
``infotrack_access_log``. Each reads what its :class:`~infotrack.alerts.tail.TailState` has
not seen: the new rows above the high-water mark and any that committed late into a gap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select

from infotrack.alerts.tail import Gap, TailState
from infotrack.alerts.types import Event, EventSource, Operator
from infotrack.kit.raw_rows import fetch_raw
from infotrack.models import AccessLogEntry, informationtra
from infotrack.tracking.events import infer_event_type

GAPS_PER_QUERY = 200  # ranges in one OR list; more are read in further queries
OPERATOR_CACHE_MAX = 200_000


class Feed(ABC):
    """Reads one table's unseen rows in id order and makes events of them."""

    source: EventSource
    table: Table

    def __init__(self) -> None:
        self._operators: dict[tuple[Any, ...], Operator] = {}

    # --- what subclasses define ------------------------------------------------------
    @abstractmethod
    def columns(self) -> Sequence[ColumnElement[Any]]:
        """The columns read, id first and event time second."""

    @abstractmethod
    def to_event(self, row: Sequence[Any]) -> Event | None:
        """The event of one row; None for rows that count for no rule."""

    # --- reading ---------------------------------------------------------------------
    @property
    def id_column(self) -> ColumnElement[int]:
        return self.columns()[0]

    @property
    def time_column(self) -> ColumnElement[datetime]:
        return self.columns()[1]

    def start_high(self, conn: Connection, since: datetime) -> int:
        """A first run's high-water mark: just below the first row at or after ``since``."""
        first = conn.execute(
            select(func.min(self.id_column)).where(self.time_column >= since)
        ).scalar()
        if first is not None:
            return int(first) - 1
        return int(conn.execute(select(func.coalesce(func.max(self.id_column), 0))).scalar_one())

    def read_new(self, conn: Connection, state: TailState, limit: int) -> list[Sequence[Any]]:
        """Rows above the high-water mark, in id order, at most ``limit``."""
        query = (
            select(*self.columns())
            .where(self.id_column > state.high)
            .order_by(self.id_column)
            .limit(limit)
        )
        return fetch_raw(conn, query)

    def read_gaps(self, conn: Connection, gaps: list[Gap]) -> list[Sequence[Any]]:
        """Rows that have committed since into the gaps below the high-water mark."""
        rows: list[Sequence[Any]] = []
        for start in range(0, len(gaps), GAPS_PER_QUERY):
            chunk = gaps[start : start + GAPS_PER_QUERY]
            where = or_(*(self.id_column.between(gap.lo, gap.hi) for gap in chunk))
            rows.extend(fetch_raw(conn, select(*self.columns()).where(where)))
        rows.sort(key=lambda row: row[0])
        return rows

    def read_window(
        self, conn: Connection, since: datetime, state: TailState, limit: int, after: int
    ) -> list[Sequence[Any]]:
        """Rows already evaluated whose time is at or after ``since`` (a warm-up), by id."""
        query = (
            select(*self.columns())
            .where(
                and_(
                    self.time_column >= since,
                    self.id_column > after,
                    self.id_column <= state.high,
                )
            )
            .order_by(self.id_column)
            .limit(limit)
        )
        return [row for row in conn.execute(query).all() if not _in_gap(row[0], state.gaps)]

    def operator(self, key_parts: tuple[Any, ...]) -> Operator:
        """One shared Operator per identity (most rows repeat a few hundred of them)."""
        found = self._operators.get(key_parts)
        if found is None:
            if len(self._operators) >= OPERATOR_CACHE_MAX:
                self._operators.clear()
            operator_id, name, company, department, role = key_parts
            key = operator_id or f"crm:{company or ''}|{name or ''}"
            found = Operator(key, operator_id, name, company, department, role)
            self._operators[key_parts] = found
        return found


def _as_datetime(value: Any) -> datetime:
    # SQLite stores DATETIME as ISO text; MySQL drivers hand back datetime objects.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _in_gap(row_id: int, gaps: list[Gap]) -> bool:
    return any(gap.lo <= row_id <= gap.hi for gap in gaps)


class TrailFeed(Feed):
    """``informationtra``: every record, typed (the CRM's own rows by their text)."""

    source: EventSource = "trail"
    table = informationtra

    def __init__(self) -> None:
        super().__init__()
        t = informationtra.c
        self._columns: list[ColumnElement[Any]] = [
            t.id,
            t.operationTime,
            t.operator_id,
            t.trauserName,
            t.tracompany,
            t.tradepartment,
            t.trarole,
            t.event_type,
            t.operationEvent,
            t.customer_source,
            t.userId,
        ]

    def columns(self) -> Sequence[ColumnElement[Any]]:
        return self._columns

    def to_event(self, row: Sequence[Any]) -> Event | None:
        if row[1] is None:  # a CRM row without a time cannot sit in any window
            return None
        at = _as_datetime(row[1])
        event_type = row[7] or infer_event_type(row[8] or "").value
        return Event(
            "trail",
            row[0],
            at,
            self.operator((row[2], row[3], row[4], row[5], row[6])),
            event_type,
            f"{row[9] or '?'}:{row[10]}",
        )


class AccessFeed(Feed):
    """``infotrack_access_log``: the exports, with the rows each one held."""

    source: EventSource = "access"
    table = cast(Table, AccessLogEntry.__table__)

    def __init__(self) -> None:
        super().__init__()
        log = AccessLogEntry.__table__.c
        self._columns = [
            log.id,
            log.occurred_at,
            log.operator_id,
            log.operator_name,
            log.company,
            log.department,
            log.role,
            log.action,
            log.row_count,
        ]

    def columns(self) -> Sequence[ColumnElement[Any]]:
        return self._columns

    def to_event(self, row: Sequence[Any]) -> Event | None:
        if row[7] != "export":  # every entry moves the tail; only exports count
            return None
        return Event(
            "access",
            row[0],
            _as_datetime(row[1]),
            self.operator((row[2], row[3], row[4], row[5], row[6])),
            None,
            None,
            int(row[8] or 0),
        )
