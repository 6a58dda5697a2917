"""The trail's queries, in one place: filters, inferred columns, keyset pages, groupings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql import column, table

from infotrack.config import Settings
from infotrack.db import Fetch
from infotrack.history.schemas import TrailFilters
from infotrack.models.informationtra import informationtra
from infotrack.tracking.events import EventType, seed_texts

t = informationtra.c


def inferred_event_type() -> ColumnElement[str]:
    """``event_type``, or the type of the seed's text for rows the CRM wrote without one."""
    inferred = case(
        *[(t.operationEvent == text, literal(code.value)) for text, code in seed_texts()],
        else_=literal(EventType.OTHER.value),
    )
    return func.coalesce(t.event_type, inferred)


class TrailQuery:
    """Builds queries on ``informationtra`` for one configuration (customer table names)."""

    def __init__(self, settings: Settings, dialect: str) -> None:
        self._users = table(settings.users_table, column(settings.users_id_column))
        self._users_id = self._users.c[settings.users_id_column]
        self._mysql = dialect in ("mysql", "mariadb")

    # --- columns inferred for rows the CRM wrote itself ---------------------------------------
    def event_type(self) -> ColumnElement[str]:
        """``event_type``, or the type of the seed's text for rows without one."""
        return inferred_event_type()

    def source(self) -> ColumnElement[str]:
        """``customer_source``, or wechat when ``users`` holds the id (it shares our database)."""
        in_users = exists().where(self._users_id == t.userId)
        inferred = case((in_users, literal("wechat")), else_=literal("primary"))
        return func.coalesce(t.customer_source, inferred)

    # --- filters --------------------------------------------------------------------------
    def where(
        self,
        filters: TrailFilters,
        scope: ColumnElement[bool],
        customers: Sequence[tuple[str, str]] | None,
    ) -> list[ColumnElement[bool]]:
        """Every condition: the scope first, then each filter given.

        ``customers`` are the (source, id) pairs a phone filter resolved to.
        """
        conds: list[ColumnElement[bool]] = [scope]
        if customers is not None:
            conds.append(self._customers(customers))
        if filters.user_id:
            conds.append(t.userId == filters.user_id)
        if filters.operator:
            conds.append(t.trauserName == filters.operator)
        if filters.department:
            conds.append(t.tradepartment == filters.department)
        if filters.event_type:
            conds.append(self._event_type_is(filters.event_type))
        if filters.source:
            conds.append(self._source_is(filters.source))
        if filters.start:
            conds.append(t.operationTime >= filters.start)
        if filters.end:
            conds.append(t.operationTime < filters.end)
        if filters.q:
            conds.append(t.operationEvent.contains(filters.q, autoescape=True))
        return conds

    def _customers(self, customers: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
        if not customers:
            return false()
        by_source: dict[str, list[str]] = {}
        for source, customer_id in customers:
            by_source.setdefault(source, []).append(customer_id)
        # CRM rows carry no source: match on the inferred one, as the items and stats report it.
        return or_(
            *[and_(t.userId.in_(ids), self._source_is(source)) for source, ids in by_source.items()]
        )

    def _event_type_is(self, code: EventType) -> ColumnElement[bool]:
        texts = [text for text, typ in seed_texts() if typ == code]
        if code == EventType.OTHER:
            crm = or_(
                t.operationEvent.is_(None), not_(t.operationEvent.in_([s for s, _ in seed_texts()]))
            )
        elif texts:
            crm = t.operationEvent.in_(texts)
        else:
            return t.event_type == code.value
        return or_(t.event_type == code.value, and_(t.event_type.is_(None), crm))

    def _source_is(self, source: str) -> ColumnElement[bool]:
        in_users = exists().where(self._users_id == t.userId)
        crm = in_users if source == "wechat" else not_(in_users)
        return or_(t.customer_source == source, and_(t.customer_source.is_(None), crm))

    # --- pages ------------------------------------------------------------------------------
    def pages(
        self,
        conds: list[ColumnElement[bool]],
        after: tuple[datetime | None, int] | None,
        columns: Sequence[ColumnElement[Any]] | None = None,
    ) -> list[Select[Any]]:
        """Queries for the rows after ``after`` (the last row of the previous page), newest first
        by (operationTime, id), NULL times last; :func:`read_page` runs them.

        Past a cursor, timed and untimed rows are two queries: one condition covering both
        makes every engine scan the time index from its top instead of seeking to the cursor
        (slow deep pages, quadratic exports). Rows carry ``columns`` (every column when
        ``None``) and the inferred event type and source.
        """
        query = select(
            *(columns if columns is not None else [informationtra]),
            self.event_type().label("inferred_event_type"),
            self.source().label("inferred_source"),
        ).where(*conds)
        newest_first = (t.operationTime.desc(), t.id.desc())
        if after is None:
            return [query.order_by(*newest_first)]
        when, row_id = after
        untimed = query.where(t.operationTime.is_(None))
        if when is None:
            return [untimed.where(t.id < row_id).order_by(t.id.desc())]
        older = query.where(
            t.operationTime <= when, or_(t.operationTime < when, t.id < row_id)
        ).order_by(*newest_first)
        return [older, untimed.order_by(t.id.desc())]

    # --- statistics -------------------------------------------------------------------------
    def grouping(self, group_by: str) -> ColumnElement[Any]:
        """The bucket key expression of a statistic."""
        if group_by == "day":
            return func.date(t.operationTime)
        if group_by == "hour":
            return self._hour()
        if group_by == "weekday_hour":
            return self._weekday() * 100 + self._hour()
        if group_by == "operator":
            return t.trauserName
        if group_by == "department":
            return t.tradepartment
        if group_by == "eventType":
            return self.event_type()
        return self.source()

    def counts(self, group_by: str, conds: list[ColumnElement[bool]]) -> list[Select[Any]]:
        """Queries answering ``(key, count)`` rows; a key's counts are to be added up.

        Event type and source are counted in two parts: rows that carry the column (read from
        an index that holds it, without touching the rows) and rows the CRM wrote itself, whose
        value is inferred from their text or customer id.
        """
        stored = {"eventType": t.event_type, "source": t.customer_source}.get(group_by)
        if stored is None:
            key = self.grouping(group_by).label("bucket")
            return [select(key, func.count().label("n")).where(*conds).group_by(key)]
        inferred = self.grouping(group_by).label("bucket")
        return [
            select(stored, func.count()).where(*conds, stored.is_not(None)).group_by(stored),
            select(inferred, func.count()).where(*conds, stored.is_(None)).group_by(inferred),
        ]

    def _hour(self) -> ColumnElement[int]:
        if self._mysql:
            return func.hour(t.operationTime)
        return cast(func.strftime("%H", t.operationTime), Integer)

    def _weekday(self) -> ColumnElement[int]:
        """Monday = 1 … Sunday = 7."""
        if self._mysql:
            return func.weekday(t.operationTime) + 1
        sunday_zero = cast(func.strftime("%w", t.operationTime), Integer)
        return (sunday_zero + 6) % 7 + 1


def read_page(fetch: Fetch, queries: Sequence[Select[Any]], limit: int) -> list[Any]:
    """Up to ``limit`` rows from ``queries`` (as :meth:`TrailQuery.pages` makes them), in order;
    ``fetch`` runs one query and returns its rows."""
    rows: list[Any] = []
    for query in queries:
        rows.extend(fetch(query.limit(limit - len(rows))))
        if len(rows) >= limit:
            break
    return rows
