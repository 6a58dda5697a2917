"""Which rows an archive takes: the cut-off the retention period allows, and the rows older
than it that may leave the live table without breaking a chain.

Per chain, the longest run of positions (continuing where the chain's last archive stopped, or
from its first row) whose rows are all older than the cut-off, so every chain stays contiguous
across the archive and the live table; and the CRM's own (unchained) rows older than it. The
ledgers must hold (every entry's MAC), or nobody could say where a chain continues.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection, Engine

from infotrack.audit.archive_file import REQUIRED_COLUMNS
from infotrack.audit.archive_rows import RowChecker, jsonable
from infotrack.audit.chain import AuditKey
from infotrack.audit.ledger import ArchivedChain, ErasureLedger, load_archives, load_erasures
from infotrack.config import Settings
from infotrack.db import scan_reader
from infotrack.errors import BadRequest, ConfigError, Conflict
from infotrack.history.schemas import parse_time
from infotrack.kit.clock import local_now
from infotrack.models.audit import ErasedRow, TrailChain

READ_CHUNK = 5000  # rows read per query
LISTED_IN_REFUSAL = 20  # offending rows named in a refusal


class ArchiveRefused(Conflict):
    """The rows, the ledgers or the destination do not allow an archive; nothing changed."""

    code = "archive_refused"


# --- when ------------------------------------------------------------------------------------
def latest_before(settings: Settings, now: datetime | None = None) -> datetime:
    """The latest cut-off the retention period allows: midnight, ``retention_days`` ago."""
    today = (now or local_now(settings.zone)).date()
    return datetime.combine(today - timedelta(days=settings.retention_days), time.min)


def resolve_before(settings: Settings, raw: str | None, due: bool) -> datetime:
    """``--before DATE`` (a local date or datetime) or ``--due``, held against retention."""
    limit = latest_before(settings)
    if due and raw:
        raise BadRequest("--before 与 --due 只能选一个", code="invalid_option")
    if due:
        return limit
    if not raw:
        raise BadRequest(
            "请用 --before DATE 指定截止时间,或用 --due 归档超过保留期的全部记录",
            code="missing_option",
        )
    before = parse_time(raw, settings.zone, "--before", end_of_day=False).replace(microsecond=0)
    if before > limit:
        raise BadRequest(
            f"--before {raw} 晚于保留期允许的最晚日期 {limit:%Y-%m-%d}:保留期为 "
            f"{settings.retention_days} 天(INFOTRACK_RETENTION_DAYS),"
            "此后的记录必须留在库中",
            code="retention_period",
        )
    return before


# --- what ------------------------------------------------------------------------------------
@dataclass
class ArchivePlan:
    """What the database says before any row is read."""

    before: datetime
    before_text: str
    columns: list[str]
    archived: dict[int, ArchivedChain]
    cutoffs: dict[int, int]  # chain -> first position (after its archive) not older than before
    chain_key_ids: dict[int, str]
    erasures: ErasureLedger
    erasure_mark: int | None  # the erasure ledger's last entry when the rows were read

    def wanted(self, row: dict[str, Any]) -> bool:
        """Whether a row older than ``before`` belongs to this archive."""
        chain_id, seq = row["chain_id"], row["chain_seq"]
        if chain_id is None or not isinstance(seq, int):
            return True  # unchained, or broken chain columns the check will refuse
        done = self.archived.get(chain_id)
        cutoff = self.cutoffs.get(chain_id)
        return seq > (done.last_seq if done else 0) and (cutoff is None or seq < cutoff)

    def start(self, key: AuditKey, chain_id: int) -> tuple[int, str]:
        """Where a chain's archived stretch must begin: after its last archive, or at 1."""
        done = self.archived.get(chain_id)
        if done is not None:
            return done.last_seq + 1, done.last_hash
        return 1, key.genesis(chain_id)


def _trail(columns: list[str]) -> sa.TableClause:
    # Untyped columns: values come back exactly as the driver returns them.
    return sa.table("informationtra", *(sa.column(name) for name in columns))


def plan_archive(conn: Connection, key: AuditKey, before: datetime) -> ArchivePlan:
    """Read the ledgers, the chain registry and where each chain stops being old enough."""
    columns = [c["name"] for c in sa.inspect(conn).get_columns("informationtra")]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ConfigError(f"informationtra 缺少字段 {', '.join(missing)}:请先运行 infotrack init")
    archives = load_archives(conn, key)
    erasures = load_erasures(conn, key)
    problems = archives.problems + erasures.problems
    if problems:
        listed = ";".join(f"{p.table} #{p.entry_id} {p.detail}" for p in problems[:5])
        raise ArchiveRefused(
            f"审计台账有 {len(problems)} 项异常({listed}),无法确定链从哪里接续;"
            "请先运行 infotrack verify 查明原因。未写入文件,未删除任何行"
        )
    # Compared as text: SQLite stores times as text (ours with microseconds, the CRM's perhaps
    # without) and a text bound orders both right; MySQL turns it into a DATETIME (index used).
    before_text = before.strftime("%Y-%m-%d %H:%M:%S")
    t = _trail(columns).c
    cutoffs = conn.execute(
        select(t.chain_id, func.min(t.chain_seq))
        .where(
            t.chain_id.is_not(None), or_(t.operationTime >= before_text, t.operationTime.is_(None))
        )
        .group_by(t.chain_id)
    ).all()
    registry = conn.execute(select(TrailChain.id, TrailChain.key_id)).all()
    erasure_mark = conn.execute(select(func.max(ErasedRow.id))).scalar()
    return ArchivePlan(
        before=before,
        before_text=before_text,
        columns=columns,
        archived=archives.chains,
        cutoffs={int(c): int(s) for c, s in cutoffs},
        chain_key_ids={int(i): str(k) for i, k in registry},
        erasures=erasures,
        erasure_mark=erasure_mark,
    )


def older_rows(engine: Engine, plan: ArchivePlan) -> Iterator[dict[str, Any]]:
    """Every row older than ``before``, in id order, as the archive writes it down.

    Read through :func:`~infotrack.db.scan_reader` (on MySQL its asyncio driver decodes rows
    ten times faster than PyMySQL, and its one transaction gives every chunk one snapshot).
    """
    t = _trail(plan.columns).c
    names = plan.columns
    id_at = names.index("id")
    after: Any = None
    with scan_reader(engine) as fetch:
        while True:
            query = select(*(getattr(t, name) for name in names)).where(
                t.operationTime < plan.before_text
            )
            if after is not None:
                query = query.where(t.id > after)
            rows = fetch(query.order_by(t.id).limit(READ_CHUNK))
            for raw in rows:
                yield {name: jsonable(name, value) for name, value in zip(names, raw, strict=True)}
            if len(rows) < READ_CHUNK:
                return
            after = rows[-1][id_at]


def refusal(checker: RowChecker) -> ArchiveRefused:
    """The refusal naming the rows that failed their check."""
    named = [p for p in checker.problems if p.row_id is not None]
    ids = sorted({p.row_id for p in named if p.row_id is not None})
    shown = "、".join(str(i) for i in ids[:LISTED_IN_REFUSAL])
    more = f" 等 {len(ids)} 行" if len(ids) > LISTED_IN_REFUSAL else ""
    details = ";".join(
        f"行 {p.row_id}:{p.detail}" if p.row_id is not None else p.detail
        for p in checker.problems[:5]
    )
    return ArchiveRefused(
        f"要归档的记录未通过校验({checker.problem_count} 项),涉及行 {shown}{more}:{details}。"
        "请先运行 infotrack verify 查明原因;未写入文件,未删除任何行"
    )
