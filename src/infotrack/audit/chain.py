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

import hmac
import json
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

_PLAIN_TIME_FLAGS = tuple(name in TIME_COLUMNS for name in PLAIN_COLUMNS)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        self._link = _derive(secret, b"infotrack/chain-link/v1")
        self._personal = _derive(secret, b"infotrack/personal-commitment/v1")
        self._ledger = _derive(secret, b"infotrack/ledger-mac/v1")
        # Names the key in chains, anchors and archives without revealing it.
        self.key_id = _derive(secret, b"infotrack/key-id/v1").hex()[:16]

    # --- rows ---------------------------------------------------------------------------
    def genesis(self, chain_id: int) -> str:
        """The ``chain_prev`` of a chain's first row."""
        return hmac.digest(self._link, f"genesis:{chain_id}".encode(), "sha256").hex()

    def commitment(self, user_id: Any, operation_event: Any, changes: Any) -> str:
        """The commitment that stands for the personal columns in the chain."""
        message = _dumps([user_id, operation_event, changes]).encode()
        return hmac.digest(self._personal, message, "sha256").hex()

    def link(
        self, prev: str, chain_id: int, seq: int, row: Mapping[str, Any], commitment: str
    ) -> str:
        """A row's ``chain_hash``; ``row`` maps column names to stored values."""
        values: list[Any] = [chain_id, seq]
        for name, is_time in zip(PLAIN_COLUMNS, _PLAIN_TIME_FLAGS, strict=True):
            value = row.get(name)
            values.append(canonical_time(value) if is_time else value)
        values.append(commitment)
        message = prev.encode() + b"\n" + _dumps(values).encode()
        return hmac.digest(self._link, message, "sha256").hex()

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
