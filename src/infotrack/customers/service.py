"""Resolve a phone number to a customer: ``users`` (wechat) first, then ``contacts`` (primary).

A small TTL cache keeps the write path off the customer tables for numbers seen recently;
misses are cached briefly too, so a burst for an unknown number costs two queries, not
two per request. Each source is queried on its own connection: no transaction on one
source is held open while the other is asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.cache import Missing, TTLMap
from infotrack.kit.phone import Phone
from infotrack.models.customers import CustomerSource, customer_sources

log = logging.getLogger(__name__)

# How many matches we read to tell an ambiguous number from a unique one.
_AMBIGUITY_PROBE: Final = 5


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
        self._names: TTLMap[tuple[str, str], str | None] = TTLMap(size, settings.customer_cache_ttl)

    def cached(self, phone: Phone) -> CustomerRef | None | Missing:
        """The cached answer for this number: a customer, ``None`` (known unknown) or MISSING."""
        hit = self._hits.get(phone.e164)
        if not isinstance(hit, Missing):
            return hit
        return self._misses.get(phone.e164)

    def resolve(self, phone: Phone) -> CustomerRef | None:
        """Find the customer (blocking: call from a worker thread on the async path)."""
        cached = self.cached(phone)
        if not isinstance(cached, Missing):
            return cached
        found = self.lookup(phone)
        if found is None:
            self._misses.put(phone.e164, None)
        else:
            self._hits.put(phone.e164, found)
        return found

    def lookup(self, phone: Phone) -> CustomerRef | None:
        """Ask the databases, uncached: wechat ``users`` first, then primary ``contacts``."""
        forms = list(phone.stored_forms)
        for source, engine in self._lookups:
            tbl = source.lookup_table()
            id_col = tbl.c[source.id_column]
            query = (
                select(id_col)
                .where(tbl.c[source.phone_column].in_(forms))
                .order_by(id_col)
                .limit(_AMBIGUITY_PROBE)
            )
            with engine.connect() as conn:
                ids = [str(row[0]) for row in conn.execute(query)]
            if not ids:
                continue
            if len(ids) > 1:
                # Deterministic pick (lowest id); the ambiguity is visible to whoever reads logs.
                log.warning(
                    "phone %s matches %s%d customers in %s.%s (%s); recording the lowest id %s",
                    phone.masked(),
                    "at least " if len(ids) == _AMBIGUITY_PROBE else "",
                    len(ids),
                    source.code,
                    source.table,
                    ", ".join(ids),
                    ids[0],
                )
            return CustomerRef(source=source.code, id=ids[0], matches=len(ids))
        return None

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
