"""Resolve a phone number to a customer: ``users`` (wechat) first, then ``contacts`` (primary).

A small TTL cache keeps the write path off the customer tables for numbers seen recently;
misses are cached briefly too. What the cache lacks is looked up in batches: one query per
source for every number that missed meanwhile. Each source is queried on its own
connection: no transaction on one source is held open while the other is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from infotrack.config import Settings
from infotrack.db import AsyncSources, Sources
from infotrack.errors import AppError, ServiceUnavailable
from infotrack.kit.batcher import Batcher, BatchTimeout
from infotrack.kit.cache import Missing, TTLMap
from infotrack.kit.held_connection import HeldConnection
from infotrack.kit.phone import Phone
from infotrack.models.customers import CustomerSource, customer_sources

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """A customer found by phone: its id is unique only together with its source."""

    source: str  # "wechat" | "primary"
    id: str
    matches: int = 1  # rows in that source sharing the number (>1: ambiguous)


class CustomerResolver:
    """Finds customers by phone number across both sources, with a TTL cache."""

    def __init__(self, sources: Sources, settings: Settings) -> None:
        self._lookups: tuple[tuple[CustomerSource, Engine], ...] = tuple(
            zip(customer_sources(settings), (sources.wechat, sources.primary), strict=True)
        )
        size = settings.customer_cache_size
        self._hits: TTLMap[str, CustomerRef] = TTLMap(size, settings.customer_cache_ttl)
        self._misses: TTLMap[str, None] = TTLMap(size, settings.customer_miss_cache_ttl)
        self._settings = settings
        self._async_lookups: tuple[tuple[CustomerSource, HeldConnection], ...] = ()
        self._timeout = settings.write_timeout
        self._batcher: Batcher[Phone, CustomerRef | None | AppError] = Batcher(
            "infotrack-lookup", self._lookup_batch, _lookup_failed, max_batch=200
        )
        self._names: TTLMap[tuple[str, str], str | None] = TTLMap(size, settings.customer_cache_ttl)

    def cached(self, phone: Phone) -> CustomerRef | None | Missing:
        """The cached answer for this number: a customer, ``None`` (known unknown) or MISSING."""
        hit = self._hits.get(phone.e164)
        if not isinstance(hit, Missing):
            return hit
        return self._misses.get(phone.e164)

    async def find(self, phone: Phone) -> CustomerRef | None:
        """Like :meth:`resolve`, for the event loop: the cache answers in place; misses are
        looked up in batches by one worker thread (see :mod:`infotrack.kit.batcher`).

        Concurrent misses share their round trips: a burst of requests for customers not
        seen lately costs two queries per batch, not two per request.
        """
        cached = self.cached(phone)
        if not isinstance(cached, Missing):
            return cached
        try:
            (outcome,) = await self._batcher.submit([phone], self._timeout)
        except BatchTimeout as exc:
            raise ServiceUnavailable("客户查询超时,请稍后重试") from exc
        if isinstance(outcome, AppError):
            raise outcome
        return outcome

    def start(self, engines: AsyncSources) -> None:
        """Start the batched lookups on the running event loop (the app's lifespan does)."""
        # One held connection per source, in autocommit: a lookup leaves no transaction open
        # (and so no lock on the CRM's table).
        wechat = HeldConnection(engines.wechat, autocommit=True)
        primary = (
            wechat
            if engines.primary is engines.wechat
            else HeldConnection(engines.primary, autocommit=True)
        )
        self._async_lookups = tuple(
            zip(customer_sources(self._settings), (wechat, primary), strict=True)
        )
        self._batcher.start()

    async def stop(self) -> None:
        """Answer what is queued, then stop."""
        await self._batcher.stop()
        for _, held in self._async_lookups:
            await held.drop()

    def resolve(self, phone: Phone) -> CustomerRef | None:
        """Find the customer, blocking (CLI and tests; the HTTP path uses :meth:`find`)."""
        cached = self.cached(phone)
        if not isinstance(cached, Missing):
            return cached
        found = self.lookup_many([phone])
        self._remember(found)
        return found[phone.e164]

    def lookup(self, phone: Phone) -> CustomerRef | None:
        """Ask the databases, uncached: wechat ``users`` first, then primary ``contacts``."""
        return self.lookup_many([phone])[phone.e164]

    def lookup_many(self, phones: Sequence[Phone]) -> dict[str, CustomerRef | None]:
        """Look numbers up, blocking: one query per source for all of them."""
        match = _Matcher(phones)
        for source, engine in self._lookups:
            if match.pending:
                with engine.connect() as conn:
                    match.take(source, _rows(conn, source, match.forms()))
        return match.found()

    async def _lookup_batch(self, phones: Sequence[Phone]) -> list[CustomerRef | None | AppError]:
        match = _Matcher(phones)
        for source, held in self._async_lookups:
            if not match.pending:
                break
            forms = match.forms()
            sql = (
                "SELECT {id}, {phone} FROM {table} WHERE {phone} IN ({marks}) ORDER BY {id}".format(
                    id=held.name(source.id_column),
                    phone=held.name(source.phone_column),
                    table=held.name(source.table),
                    marks=held.marks(len(forms)),
                )
            )
            try:
                rows = await held.fetch(sql, forms)
            except Exception as exc:  # the driver's own error classes: any failure is a 503
                log.error("customer lookup failed in %s: %s", source.code, exc)
                await held.drop()
                return [ServiceUnavailable()] * len(phones)
            match.take(source, [(str(customer_id), str(stored)) for customer_id, stored in rows])
        found = match.found()
        self._remember(found)
        return [found[phone.e164] for phone in phones]

    def _remember(self, found: dict[str, CustomerRef | None]) -> None:
        for e164, ref in found.items():
            if ref is None:
                self._misses.put(e164, None)
            else:
                self._hits.put(e164, ref)

    def all_matches(self, phone: Phone, limit: int = 100) -> list[tuple[str, str]]:
        """Every (source, id) whose stored number is this one, in both sources (for filters)."""
        found: list[tuple[str, str]] = []
        for source, engine in self._lookups:
            tbl = source.lookup_table()
            query = (
                select(tbl.c[source.id_column])
                .where(tbl.c[source.phone_column].in_(list(phone.stored_forms)))
                .limit(limit)
            )
            with engine.connect() as conn:
                found.extend((source.code, str(row[0])) for row in conn.execute(query))
        return found

    def display_names(self, refs: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Customers' display names, one query per source for what the cache lacks."""
        names: dict[tuple[str, str], str | None] = {}
        wanted: dict[str, list[str]] = {}
        for ref in refs:
            cached = self._names.get(ref)
            if isinstance(cached, Missing):
                wanted.setdefault(ref[0], []).append(ref[1])
            else:
                names[ref] = cached
        for source, engine in self._lookups:
            ids = wanted.get(source.code)
            if not ids:
                continue
            tbl = source.named_table()
            id_col = tbl.c[source.id_column]
            query = select(id_col, tbl.c[source.name_column]).where(id_col.in_(ids))
            try:
                with engine.connect() as conn:
                    rows = {str(row[0]): row[1] for row in conn.execute(query)}
            except DBAPIError as exc:  # e.g. a CRM table without the configured name column
                log.warning(
                    "cannot read customer names from %s.%s: %s", source.code, source.table, exc
                )
                rows = {}
            for customer_id in ids:
                name = rows.get(customer_id)
                names[(source.code, customer_id)] = name
                self._names.put((source.code, customer_id), name)
        return names

    def forget(self, phone: Phone) -> None:
        """Drop a number from the cache (after the CRM changes it, for instance)."""
        self._hits.pop(phone.e164)
        self._misses.pop(phone.e164)


def _lookup_failed(exc: BaseException) -> AppError:
    return exc if isinstance(exc, AppError) else ServiceUnavailable()


def _rows(conn: Connection, source: CustomerSource, forms: list[str]) -> list[tuple[str, str]]:
    """(id, stored phone) of every customer in ``source`` stored under one of ``forms``."""
    tbl = source.lookup_table()
    id_col, phone_col = tbl.c[source.id_column], tbl.c[source.phone_column]
    query = select(id_col, phone_col).where(phone_col.in_(forms)).order_by(id_col)
    return [(str(customer_id), str(stored)) for customer_id, stored in conn.execute(query)]


class _Matcher:
    """Matches rows of the customer tables back to the numbers asked for, source by source."""

    def __init__(self, phones: Sequence[Phone]) -> None:
        self.pending = {phone.e164: phone for phone in phones}
        self._found: dict[str, CustomerRef] = {}
        self._owner: dict[str, str] = {}

    def forms(self) -> list[str]:
        """Every stored spelling of every number still unmatched."""
        self._owner = {form: e164 for e164, p in self.pending.items() for form in p.stored_forms}
        return list(self._owner)

    def take(self, source: CustomerSource, rows: list[tuple[str, str]]) -> None:
        """Match one source's rows (ordered by id): the lowest id wins, ambiguity is logged."""
        ids: dict[str, list[str]] = {}
        for customer_id, stored in rows:
            # MySQL compares with PAD SPACE: '13800138000 ' matches the form without it.
            e164 = self._owner.get(stored) or self._owner.get(stored.strip())
            if e164 is not None:
                ids.setdefault(e164, []).append(customer_id)
        for e164, matched in ids.items():
            if len(matched) > 1:
                log.warning(
                    "phone %s matches %d customers in %s.%s (%s); recording the lowest id %s",
                    self.pending[e164].masked(),
                    len(matched),
                    source.code,
                    source.table,
                    ", ".join(matched[:10]),
                    matched[0],
                )
            self._found[e164] = CustomerRef(source.code, matched[0], len(matched))
            del self.pending[e164]

    def found(self) -> dict[str, CustomerRef | None]:
        """Every number asked for: its customer, or ``None``."""
        return {**dict.fromkeys(self.pending), **self._found}
