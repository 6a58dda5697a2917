"""The tamper-evidence chain over ``informationtra``: what is hashed, and how rows link.

Every row infotrack appends carries four columns: ``chain_id`` (which writer's chain),
``chain_seq`` (its position, from 1), ``chain_prev`` (the previous row's hash, or the chain's
genesis value) and ``chain_hash``::

    chain_hash = HMAC-SHA256(link key, chain_prev "\\n" canonical(row))

``canonical(row)`` is a JSON array of the chain id and position, every column we write except
the personal ones, and a *commitment* to the personal ones — ``HMAC(personal key, [userId,
operationEvent, changes])`` — instead of their text. Checking a row recomputes the commitment
from the row as it stands; an erasure (PIPL art. 47) replaces phone numbers in those columns
and records, in a MAC'd ledger, the commitment before and after. The chain itself is never
rewritten, so erasing a customer leaves every other row, and every anchor, verifiable.

Chains are per writer (a process, or one CLI run): a writer computes a whole batch's links in
memory from its own head and inserts them in one statement, with no shared lock between
processes. Storing ``chain_prev`` lets every row be checked on its own, so a deleted row is
reported as a gap and its neighbours are still checked.

Times are hashed to the second (``YYYY-MM-DD HH:MM:SS``): MySQL's ``DATETIME`` keeps whole
seconds, and the writer stores whole seconds on every backend, so what is hashed is what is
read back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

# Columns hashed as they stand, in this order (the chain's own columns come first).
PLAIN_COLUMNS = (
    "tracompany",
    "tradepartment",
    "traorganization",
    "trarole",
    "trauserName",
    "traassistant",
    "operationTime",
    "created_at",
    "updated_at",
    "event_type",
    "customer_source",
    "side",
    "operator_id",
    "request_id",
    "client_addr",
)
# Columns that may hold a customer's personal data: hashed through a commitment.
PERSONAL_COLUMNS = ("userId", "operationEvent", "changes")
TIME_COLUMNS = frozenset({"operationTime", "created_at", "updated_at"})
CHAIN_COLUMNS = ("chain_id", "chain_seq", "chain_prev", "chain_hash")
# What a check reads of a row, in this order.
VERIFY_COLUMNS = ("id", *CHAIN_COLUMNS, *PLAIN_COLUMNS, *PERSONAL_COLUMNS)

# Positions of the times in the hashed list ([chain_id, seq, *plain, commitment]).
_TIME_AT = tuple(2 + PLAIN_COLUMNS.index(name) for name in sorted(TIME_COLUMNS))


# The hashed form of a list of values: compact JSON in UTF-8, non-ASCII unescaped — the bytes
# of ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``. orjson writes exactly
# those bytes (checked for every code point) several times faster, and the encoding is most of
# a trail check's time.
_dumps = orjson.dumps


class _HmacSha256:
    """HMAC-SHA256 under one key, its padded inner and outer states computed once.

    The same value as ``hmac.digest(key, message, "sha256")``, at half the cost for the short
    messages of a row (no key schedule per call).
    """

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def canonical_time(value: Any) -> str | None:
    """A stored time as hashed: ``YYYY-MM-DD HH:MM:SS`` (datetime or SQLite's text alike)."""
    if value is None:
        return None
    return str(value)[:19]


class AuditKey:
    """The chain's secret, kept outside the database, and the keys derived from it."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        self._link = _HmacSha256(_derive(secret, b"infotrack/chain-link/v1"))
        self._personal = _HmacSha256(_derive(secret, b"infotrack/personal-commitment/v1"))
        self._ledger = _derive(secret, b"infotrack/ledger-mac/v1")
        # Names the key in chains, anchors and archives without revealing it.
        self.key_id = _derive(secret, b"infotrack/key-id/v1").hex()[:16]

    # --- rows ---------------------------------------------------------------------------
    def genesis(self, chain_id: int) -> str:
        """The ``chain_prev`` of a chain's first row."""
        return self._link.hexdigest(f"genesis:{chain_id}".encode())

    def commitment(self, user_id: Any, operation_event: Any, changes: Any) -> str:
        """The commitment that stands for the personal columns in the chain."""
        return self._personal.hexdigest(_dumps([user_id, operation_event, changes]))

    def link(
        self, prev: str, chain_id: int, seq: int, row: Mapping[str, Any], commitment: str
    ) -> str:
        """A row's ``chain_hash``; ``row`` maps column names to stored values."""
        return self.link_plain(
            prev, chain_id, seq, [row.get(name) for name in PLAIN_COLUMNS], commitment
        )

    def link_plain(
        self, prev: str, chain_id: int, seq: int, plain: Sequence[Any], commitment: str
    ) -> str:
        """:meth:`link` from the ``PLAIN_COLUMNS`` values in order (the verifier's fast path)."""
        values: list[Any] = [chain_id, seq, *plain, commitment]
        for at in _TIME_AT:
            if values[at] is not None:
                values[at] = str(values[at])[:19]  # as canonical_time()
        return self._link.hexdigest(prev.encode() + b"\n" + _dumps(values))

    def row_commitment(self, row: Mapping[str, Any]) -> str:
        """The commitment of a row's personal columns as they stand."""
        return self.commitment(row.get("userId"), row.get("operationEvent"), row.get("changes"))

    # --- ledgers (anchors, erasures, archives) --------------------------------------------
    def mac(self, document: Any) -> str:
        """HMAC of a JSON-serialisable document (keys sorted), for our own ledgers."""
        text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hmac.digest(self._ledger, text.encode(), "sha256").hex()

    def check_mac(self, document: Any, mac: str | None) -> bool:
        """True when ``mac`` is this key's MAC of ``document``."""
        return mac is not None and hmac.compare_digest(self.mac(document), mac)


def _derive(secret: bytes, label: bytes) -> bytes:
    return hmac.digest(secret, label, "sha256")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain stands: its id, the last position written and that row's hash."""

    chain_id: int
    seq: int
    hash: str


def seal(key: AuditKey, head: ChainHead, rows: Sequence[MutableMapping[str, Any]]) -> ChainHead:
    """Fill in the chain columns of ``rows`` (in order) after ``head``; the new head.

    Times are cut to whole seconds first, in the rows themselves, so the stored values are the
    hashed ones on every backend. The caller keeps the returned head only once the rows are
    committed.
    """
    seq, prev = head.seq, head.hash
    for row in rows:
        for name in TIME_COLUMNS:
            value = row.get(name)
            if isinstance(value, datetime) and value.microsecond:
                row[name] = value.replace(microsecond=0)
        seq += 1
        digest = key.link(prev, head.chain_id, seq, row, key.row_commitment(row))
        row["chain_id"] = head.chain_id
        row["chain_seq"] = seq
        row["chain_prev"] = prev
        row["chain_hash"] = digest
        prev = digest
    return ChainHead(head.chain_id, seq, prev)


def fresh_head(key: AuditKey, chain_id: int) -> ChainHead:
    """The head of a chain with no rows yet."""
    return ChainHead(chain_id, 0, key.genesis(chain_id))
