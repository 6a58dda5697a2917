"""Erasing a customer's phone numbers from the trail (PIPL art. 47) without breaking the chain.

The chain hashes ``userId``, ``operationEvent`` and ``changes`` only through a commitment
(:meth:`AuditKey.row_commitment`), so those columns can change while every chain link stays as
it was. An erasure replaces the subject's numbers in them with ``[已删除#E<erasure id>]`` and
records in the MAC'd ledger, per changed row, the commitment before and after
(:class:`ErasedRow`), plus one :class:`Erasure` entry: who, when, whose (masked), why. The
verifier links an erased row with its first ``before`` and requires its content to match the
last ``after``; nothing else in the trail, and no anchor, is touched.

An erasure must not launder tampering: a chained row edited behind our back would pass once an
erasure vouched for its edited content. So every row about to change is checked against its
link (and its last erasure) first, and if any fails nothing is written. Ledger and rows change
in one transaction, on the migration user's connection (the application user may not UPDATE
the trail).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Engine

from infotrack.audit.access_log import AccessContext, record_admin_act
from infotrack.audit.chain import PERSONAL_COLUMNS, TIME_COLUMNS, VERIFY_COLUMNS, AuditKey
from infotrack.audit.erase_subject import ErasureSubject
from infotrack.audit.ledger import (
    ErasureLedger,
    erased_row_document,
    erasure_document,
    load_erasures,
)
from infotrack.audit.phone_scrub import like_fragments
from infotrack.audit.row_seal import check_row
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.errors import AppError, BadRequest, Conflict
from infotrack.kit.clock import local_now
from infotrack.models.audit import ErasedRow, Erasure, TrailArchive, TrailChain
from infotrack.models.informationtra import informationtra

PSEUDONYM = "[已删除#E{id}]"
MAX_IDS_SHOWN = 50
MAX_REASON_CHARS = 500  # Erasure.reason
_T = informationtra
# Times are read as the driver returns them (SQLite: text), as the verifier reads them: a CRM
# row's odd time text must not stop an erasure, and the chain hashes only their first 19 chars.
_READ = tuple(
    type_coerce(_T.c[name], String()).label(name) if name in TIME_COLUMNS else _T.c[name]
    for name in VERIFY_COLUMNS
)
_IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class RowChange:
    """One trail row and its personal columns as the erasure leaves them."""

    row: Mapping[str, Any]
    after: dict[str, str | None]

    @property
    def columns(self) -> tuple[str, ...]:
        """The personal columns that change."""
        return tuple(c for c in PERSONAL_COLUMNS if self.after[c] != self.row[c])


@dataclass
class ErasurePlan:
    """What an erasure changes, and the rows that stop it (failing their chain check)."""

    changes: list[RowChange] = field(default_factory=list)
    tampered: list[int] = field(default_factory=list)  # fail their link or their last erasure
    foreign: list[int] = field(default_factory=list)  # on a chain another audit key signed
    checker: _Checker | None = None  # what the rows were checked with (when any change)

    def column_counts(self) -> dict[str, int]:
        """How many rows change, per personal column."""
        counts = dict.fromkeys(PERSONAL_COLUMNS, 0)
        for change in self.changes:
            for name in change.columns:
                counts[name] += 1
        return counts

    @property
    def blocked(self) -> bool:
        """True when some row to change cannot be shown intact."""
        return bool(self.tampered or self.foreign)


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    """An erasure carried out."""

    erasure_id: int
    erased_at: datetime
    plan: ErasurePlan


@dataclass(frozen=True, slots=True)
class ArchiveNote:
    """An archive written earlier: it may still hold the subject's numbers."""

    id: int
    file_name: str
    created_at: datetime
    before: datetime
    row_count: int


def preview_erasure(engine: Engine, key: AuditKey, subject: ErasureSubject) -> ErasurePlan:
    """What an erasure would change now (nothing is written)."""
    with engine.connect() as conn:
        rows = _read(conn, _scan(conn, subject), lock=False)
        return _plan(conn, key, subject, rows, PSEUDONYM.format(id="?"))


def apply_erasure(
    engine: Engine,
    key: AuditKey,
    subject: ErasureSubject,
    *,
    erased_at: datetime,
    operator: str,
    reason: str | None,
) -> ErasureOutcome:
    """Erase the subject's numbers and record it, in one transaction; raises :class:`Conflict`
    (having written nothing) when a row to change fails its chain check."""
    erased_at = erased_at.replace(microsecond=0)  # as DATETIME keeps it, and the MAC covers
    operator = subject.masked(operator)[:255]
    reason = subject.masked(reason) if reason else None
    with engine.begin() as conn:
        # The scan takes no lock (it may read the whole table); the rows found are locked and
        # read again once the transaction holds the write (SQLite: the INSERT takes the lock).
        ids = _scan(conn, subject)
        erasure_id = _insert_erasure(conn, key, erased_at, operator, subject.label, reason)
        rows = _read(conn, ids, lock=True)
        plan = _plan(conn, key, subject, rows, PSEUDONYM.format(id=erasure_id))
        if plan.blocked:
            raise refusal(plan)
        if plan.changes:
            _rewrite(conn, key, subject, erasure_id, plan)
        document = erasure_document(
            erasure_id, erased_at, operator, subject.label, reason, len(plan.changes), key.key_id
        )
        conn.execute(
            update(Erasure)
            .where(Erasure.id == erasure_id)
            .values(row_count=len(plan.changes), mac=key.mac(document))
        )
    return ErasureOutcome(erasure_id, erased_at, plan)


def refusal(plan: ErasurePlan) -> Conflict:
    """The error that stops an erasure, naming the rows."""
    parts = []
    if plan.tampered:
        parts.append(f"未通过防篡改校验的行:{_ids(plan.tampered)}")
    if plan.foreign:
        parts.append(f"由另一个审计密钥签署、无法校验的行:{_ids(plan.foreign)}")
    return Conflict(
        "拒绝删除,未做任何修改:" + ";".join(parts) + "。请先运行 `infotrack verify` 调查。",
        code="trail_not_intact",
    )


def archives(engine: Engine) -> list[ArchiveNote]:
    """Archives made so far (a signed archive is never rewritten: an erasure cannot reach it)."""
    query = select(
        TrailArchive.id,
        TrailArchive.file_name,
        TrailArchive.created_at,
        TrailArchive.before,
        TrailArchive.row_count,
    ).order_by(TrailArchive.id)
    with engine.connect() as conn:
        return [ArchiveNote(*row) for row in conn.execute(query)]


# --- finding and checking rows ----------------------------------------------------------------
def _scan(conn: Connection, subject: ErasureSubject) -> list[int]:
    """Ids of rows that may hold a number: a LIKE prefilter on the last four digits, and every
    row of the subject's customers (read in full, whatever the form of the number)."""
    fragments = {f for phone in subject.phones for f in like_fragments(phone)}
    conds: list[ColumnElement[bool]] = [
        _T.c[name].like(f"%{fragment}%") for name in PERSONAL_COLUMNS for fragment in fragments
    ]
    for source, customer_id in subject.customers:
        # The CRM's own rows carry no source: its ids are users' (wechat) ids.
        of_source = _T.c.customer_source == source
        if source == "wechat":
            of_source = or_(of_source, _T.c.customer_source.is_(None))
        conds.append(and_(_T.c.userId == customer_id, of_source))
    if not conds:
        return []
    query = select(_T.c.id).where(or_(*conds)).order_by(_T.c.id)
    return [int(row[0]) for row in conn.execute(query)]


def _read(conn: Connection, ids: Sequence[int], *, lock: bool) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = []
    for chunk in _chunks(ids):
        query = select(*_READ).where(_T.c.id.in_(chunk)).order_by(_T.c.id)
        if lock:
            query = query.with_for_update()
        rows.extend(dict(row._mapping) for row in conn.execute(query))
    return rows


def _plan(
    conn: Connection,
    key: AuditKey,
    subject: ErasureSubject,
    rows: Sequence[Mapping[str, Any]],
    pseudonym: str,
) -> ErasurePlan:
    scrubber = subject.scrubber()
    plan = ErasurePlan()
    for row in rows:
        after = {
            "userId": scrubber.text(row["userId"], pseudonym),
            "operationEvent": scrubber.text(row["operationEvent"], pseudonym),
            "changes": scrubber.json_text(row["changes"], pseudonym),
        }
        if any(after[name] != row[name] for name in PERSONAL_COLUMNS):
            plan.changes.append(RowChange(row, after))
    if not plan.changes:
        return plan
    plan.checker = _Checker.load(conn, key)
    for change in plan.changes:
        verdict = plan.checker.verdict(change.row)
        if verdict == "tampered":
            plan.tampered.append(change.row["id"])
        elif verdict == "foreign":
            plan.foreign.append(change.row["id"])
    return plan


@dataclass
class _Checker:
    """Checks a row against its chain link, through the erasure ledger."""

    key: AuditKey
    ledger: ErasureLedger
    signers: dict[int, str]  # chain id -> the key id that signs it

    @classmethod
    def load(cls, conn: Connection, key: AuditKey) -> _Checker:
        signers = {
            int(c): str(k) for c, k in conn.execute(select(TrailChain.id, TrailChain.key_id))
        }
        return cls(key, load_erasures(conn, key), signers)

    def original(self, row: Mapping[str, Any]) -> str:
        """The commitment the row's link was made with (before any erasure)."""
        return self.ledger.original.get(row["id"]) or self.key.row_commitment(row)

    def verdict(self, row: Mapping[str, Any]) -> str | None:
        """``None`` when the row is as its chain (and its last erasure) says; else ``"foreign"``
        (on a chain another audit key signs) or ``"tampered"``."""
        fault = check_row(self.key, row, self.ledger, self.signers)
        if fault is None:
            return None
        return "foreign" if fault.kind == "foreign" else "tampered"


# --- writing ----------------------------------------------------------------------------------
def _insert_erasure(
    conn: Connection,
    key: AuditKey,
    erased_at: datetime,
    operator: str,
    subject: str,
    reason: str | None,
) -> int:
    """The ledger entry, first: its id is in the pseudonym; its MAC is set once rows are known."""
    result = conn.execute(
        insert(Erasure).values(
            erased_at=erased_at,
            operator=operator,
            subject=subject,
            reason=reason,
            row_count=0,
            key_id=key.key_id,
            mac="",
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def _rewrite(
    conn: Connection, key: AuditKey, subject: ErasureSubject, erasure_id: int, plan: ErasurePlan
) -> None:
    """Update the rows, read them back, check them, and write their ledger entries."""
    conn.execute(
        update(_T)
        .where(_T.c.id == bindparam("row_id"))
        .values(
            userId=bindparam("new_user_id"),
            operationEvent=bindparam("new_event"),
            changes=bindparam("new_changes"),
            # MySQL's seed table stamps updated_at ON UPDATE; it is chained, so it must stay.
            updated_at=_T.c.updated_at,
        ),
        [
            {
                "row_id": c.row["id"],
                "new_user_id": c.after["userId"],
                "new_event": c.after["operationEvent"],
                "new_changes": c.after["changes"],
            }
            for c in plan.changes
        ],
    )
    checker = plan.checker
    assert checker is not None
    before = {c.row["id"]: key.row_commitment(c.row) for c in plan.changes}
    # What is stored, not what was sent, is what the verifier will hash: read it back, and
    # check it as the verifier will (a trigger or an ON UPDATE column would show here).
    stored = {row["id"]: row for row in _read(conn, list(before), lock=False)}
    after = _Checker(
        key,
        ErasureLedger(
            original={c.row["id"]: checker.original(c.row) for c in plan.changes},
            current={i: key.row_commitment(row) for i, row in stored.items()},
        ),
        checker.signers,
    )
    scrubber = subject.scrubber()
    for row_id in before:
        row = stored.get(row_id)
        if (
            row is None
            or any(scrubber.found_in(row[name]) for name in PERSONAL_COLUMNS)
            or after.verdict(row) is not None
        ):
            raise AppError(
                f"删除后第 {row_id} 行不符合预期(号码仍在,或链校验失败),已全部回滚",
                code="erasure_failed",
            )
    entries = []
    for row_id, was in before.items():
        now = after.ledger.current[row_id]
        document = erased_row_document(erasure_id, row_id, was, now)
        entries.append(
            {
                "erasure_id": erasure_id,
                "row_id": row_id,
                "before": was,
                "after": now,
                "mac": key.mac(document),
            }
        )
    conn.execute(insert(ErasedRow), entries)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _IDS_PER_QUERY):
        yield ids[start : start + _IDS_PER_QUERY]


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:MAX_IDS_SHOWN])
    return shown + (f" 等共 {len(ids)} 行" if len(ids) > MAX_IDS_SHOWN else "")


def run_erasure(
    settings: Settings,
    sources: Sources,
    admin: Engine,
    subject: ErasureSubject,
    ctx: AccessContext,
    reason: str | None,
) -> ErasureOutcome:
    """Erase on the migration user's connection, then log the act (masked) in the access log."""
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise BadRequest(f"删除原因最多 {MAX_REASON_CHARS} 个字符", code="reason_too_long")
    who = ctx.identity
    outcome = apply_erasure(
        admin,
        AuditKey(settings.resolved_audit_key()),
        subject,
        erased_at=local_now(settings.zone),
        operator=f"{who.name} ({who.operator_id})",
        reason=reason,
    )
    record_admin_act(
        sources.wechat,
        settings.zone,
        ctx,
        "erase",
        {
            "subject": subject.label,
            "rows": len(outcome.plan.changes),
            "erasureId": outcome.erasure_id,
            "reason": subject.masked(reason) if reason else None,
        },
        len(outcome.plan.changes),
    )
    return outcome
