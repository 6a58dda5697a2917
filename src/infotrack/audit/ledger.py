"""The MAC'd ledgers beside the trail: erasures and archives, as ``verify`` trusts them.

Each ledger row carries ``mac = AuditKey.mac(document)`` over the document built here; without
the key nobody can add, edit or forge an entry. A row that fails its MAC is reported and not
trusted, so tampering with a ledger can only make ``verify`` report more, never less.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from infotrack.audit.chain import AuditKey
from infotrack.models.audit import ErasedRow, Erasure, TrailArchive


def _time(value: datetime | str) -> str:
    return str(value)[:19]


def erasure_document(
    erasure_id: int,
    erased_at: datetime | str,
    operator: str,
    subject: str,
    reason: str | None,
    row_count: int,
    key_id: str,
) -> dict[str, Any]:
    """What an :class:`Erasure` row's MAC covers."""
    return {
        "kind": "erasure",
        "id": erasure_id,
        "erased_at": _time(erased_at),
        "operator": operator,
        "subject": subject,
        "reason": reason,
        "row_count": row_count,
        "key_id": key_id,
    }


def erased_row_document(erasure_id: int, row_id: int, before: str, after: str) -> dict[str, Any]:
    """What an :class:`ErasedRow`'s MAC covers."""
    return {
        "kind": "erased_row",
        "erasure_id": erasure_id,
        "row_id": row_id,
        "before": before,
        "after": after,
    }


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    """A ledger entry that failed its check."""

    table: str
    entry_id: int
    detail: str


@dataclass
class ErasureLedger:
    """Per erased trail row: the commitment its chain link was made with, and the one its
    personal columns must have now."""

    original: dict[int, str] = field(default_factory=dict)
    current: dict[int, str] = field(default_factory=dict)
    problems: list[LedgerProblem] = field(default_factory=list)

    def record(self, row_id: int, before: str, after: str) -> bool:
        """Take one erased row's entry; ``False`` (nothing taken) when it does not follow on
        from that row's previous erasure."""
        if row_id in self.current and self.current[row_id] != before:
            return False
        self.original.setdefault(row_id, before)
        self.current[row_id] = after
        return True


def load_erasures(conn: Connection, key: AuditKey) -> ErasureLedger:
    """The erasure ledger, every entry's MAC checked; a row erased twice must chain up.

    (On a Core connection ``select(Model)`` yields plain rows of the table's columns.)
    """
    ledger = ErasureLedger()
    erasures = {e.id: e for e in conn.execute(select(Erasure)).all()}
    valid: set[int] = set()
    for e in erasures.values():
        document = erasure_document(
            e.id, e.erased_at, e.operator, e.subject, e.reason, e.row_count, e.key_id
        )
        if key.check_mac(document, e.mac):
            valid.add(e.id)
        else:
            ledger.problems.append(LedgerProblem("infotrack_erasures", e.id, "MAC 不符"))
    for r in conn.execute(select(ErasedRow).order_by(ErasedRow.erasure_id, ErasedRow.id)).all():
        document = erased_row_document(r.erasure_id, r.row_id, r.before, r.after)
        if not key.check_mac(document, r.mac) or r.erasure_id not in valid:
            ledger.problems.append(
                LedgerProblem("infotrack_erased_rows", r.id, f"行 {r.row_id} 的删除记录 MAC 不符")
            )
            continue
        if not ledger.record(r.row_id, r.before, r.after):
            ledger.problems.append(
                LedgerProblem(
                    "infotrack_erased_rows", r.id, f"行 {r.row_id} 的多次删除记录前后不衔接"
                )
            )
    return ledger


def archive_document(manifest: dict[str, Any]) -> dict[str, Any]:
    """What an archive's MAC covers: its manifest without the ``mac`` field."""
    return {k: v for k, v in manifest.items() if k != "mac"}


@dataclass(frozen=True, slots=True)
class ArchivedChain:
    """How far a chain has been archived: the last archived position and its hash."""

    last_seq: int
    last_hash: str
    archive_id: int


@dataclass
class ArchiveLedger:
    """Per chain, the archived prefix; entries that fail their MAC are reported."""

    chains: dict[int, ArchivedChain] = field(default_factory=dict)
    archived_rows: int = 0
    problems: list[LedgerProblem] = field(default_factory=list)


def load_archives(conn: Connection, key: AuditKey) -> ArchiveLedger:
    """The archive ledger. An archive's manifest lists, per chain, ``[first_seq, first_prev,
    last_seq, last_hash]`` of the rows it holds; archives of one chain follow each other."""
    ledger = ArchiveLedger()
    for a in conn.execute(select(TrailArchive).order_by(TrailArchive.id)):
        try:
            manifest = json.loads(a.manifest)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not key.check_mac(
            archive_document(manifest), manifest.get("mac")
        ):
            ledger.problems.append(LedgerProblem("infotrack_archives", a.id, "清单 MAC 不符"))
            continue
        ledger.archived_rows += int(manifest.get("row_count", 0))
        for chain_id, (_first_seq, _first_prev, last_seq, last_hash) in manifest["chains"].items():
            ledger.chains[int(chain_id)] = ArchivedChain(int(last_seq), str(last_hash), a.id)
    return ledger
