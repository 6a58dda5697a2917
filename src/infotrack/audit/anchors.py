"""Anchors: chain heads checkpointed outside the database, so rewriting a whole chain shows.

A writer holding the audit key can recompute every hash of a chain; what it cannot change is a
copy of the chain's head that already left the database. An anchor is a MAC'd document::

    {"v": 1, "id": 7, "at": "2026-11-28 10:00:00", "key_id": "…", "reason": "periodic",
     "operator": "…", "heads": [[chain_id, seq, chain_hash, row_id], …], "prev": "<mac of #6>",
     "mac": "<AuditKey.mac of the rest>"}

``heads`` lists only the chains that moved since the previous anchor (the verifier folds the
lines: the latest head per chain counts), so the file grows with activity, not with the number
of chains; ``prev`` links each anchor to the one before it, so a deleted line is seen.

Order of writes, and what a failure leaves behind:

1. the database row (``infotrack_audit_anchors``): the anchor's id is the previous id + 1, so two
   processes anchoring at once cannot both follow the same anchor — the primary key refuses the
   second, which starts again from the new latest anchor. If this fails nothing was written.
2. the anchor file: every anchor the file lacks after its last line is appended, in order
   (:func:`infotrack.audit.anchor_file.append_anchors`); a failed write is made good by the
   next anchor of any kind. A file that does not exist yet receives every anchor in the table.
3. the webhook, when configured: every anchor after the delivery cursor (a row of
   ``infotrack_worker_state``) is posted in order; the cursor moves past what was delivered, so
   a failure is retried by the next anchor. Receivers deduplicate on the anchor id.

A periodic anchor writes nothing when no chain moved; on demand (and for an archive or an
erasure) an anchor is always made, with an empty list if nothing moved, to prove exactly that.
A head is anchored only when it moved *forward* from its anchored position and that position
still holds the anchored hash: a chain cut short or rewritten is reported, never blessed.

Each host appends to its own file (the path is a setting): any file this code writes holds the
one sequence of anchors from #1, so a host that anchors after another catches its file up from
the table. Files on several hosts are copies, not parts; a shared path works too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text, tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from infotrack.audit.anchor_documents import (
    ANCHORS,
    anchor_document,
    anchors_after,
    mac_holds,
    parse_anchor_line,
    vouch,
    vouched_documents,
)
from infotrack.audit.anchor_file import AnchorFileError, append_anchors, os_reason
from infotrack.audit.anchor_webhook import deliver_anchors
from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.errors import AppError
from infotrack.kit.clock import Clock
from infotrack.models.informationtra import informationtra

log = logging.getLogger(__name__)

REASONS = ("periodic", "on_demand", "archive", "erase")
# Heads per anchor: keeps a document under MySQL's TEXT limit (64 KB) with the widest values.
MAX_HEADS_PER_ANCHOR = 500
INSERT_ATTEMPTS = 10  # another process took the next id: start again from its anchor
_T = informationtra.c


class AnchorFailed(AppError):
    """An anchor was made in the database but did not reach the file or the webhook."""

    code = "anchor_failed"
    message = "锚点未能写到数据库之外"


# --- chain heads -----------------------------------------------------------------------------

# SQLite walks the distinct chain ids with one index seek each (a loose index scan by hand):
# a GROUP BY would read the whole index, ten million entries at full size.
_SQLITE_HEADS = text(
    """
    WITH RECURSIVE chains(cid) AS (
        SELECT MIN(chain_id) FROM informationtra WHERE chain_id IS NOT NULL
        UNION ALL
        SELECT (SELECT MIN(chain_id) FROM informationtra WHERE chain_id > chains.cid)
        FROM chains WHERE chains.cid IS NOT NULL
    )
    SELECT t.chain_id, t.chain_seq, t.chain_hash, t.id
    FROM chains JOIN informationtra t ON t.chain_id = chains.cid AND t.chain_seq = (
        SELECT MAX(chain_seq) FROM informationtra WHERE chain_id = chains.cid
    )
    """
)


def chain_heads(conn: Connection) -> dict[int, tuple[int, str, int]]:
    """Every chain's last row in the table: ``{chain_id: (seq, chain_hash, row_id)}``.

    Cheap at ten million rows: MySQL answers the GROUP BY with a loose scan of the unique
    index (chain_id, chain_seq), one step per chain; SQLite gets the same walk spelled out.
    """
    if conn.dialect.name == "sqlite":
        rows: Sequence[Any] = conn.execute(_SQLITE_HEADS).all()
    else:
        tops = (
            select(_T.chain_id.label("cid"), func.max(_T.chain_seq).label("top"))
            .where(_T.chain_id.is_not(None))
            .group_by(_T.chain_id)
            .subquery()
        )
        rows = conn.execute(
            select(_T.chain_id, _T.chain_seq, _T.chain_hash, _T.id).join_from(
                tops,
                informationtra,
                (_T.chain_id == tops.c.cid) & (_T.chain_seq == tops.c.top),
            )
        ).all()
    return {int(r[0]): (int(r[1]), str(r[2]), int(r[3])) for r in rows}


# --- what is anchored already -----------------------------------------------------------


def anchor_count(conn: Connection) -> int:
    """How many anchors the database holds."""
    return int(conn.execute(select(func.count()).select_from(ANCHORS)).scalar_one())


@dataclass
class AnchorBook:
    """The latest anchored head of each chain, folded from the anchors table.

    A long-lived anchorer keeps one and reads only the anchors added since; anchors that fail
    their MAC are left out (and logged): a head is never trusted from an entry nobody can vouch
    for.
    """

    upto: int = 0
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)

    def refresh(self, conn: Connection, key: AuditKey) -> None:
        """Fold in the anchors added since the last refresh (all of them the first time)."""
        last = conn.execute(select(func.max(ANCHORS.c.id))).scalar_one_or_none() or 0
        if last < self.upto:  # the table lost rows (a restore): fold it again
            self.upto, self.heads = 0, {}
        problems: list[str] = []
        for row in conn.execute(anchors_after(self.upto)):
            self.upto = max(self.upto, int(row.id))
            for document in vouch(key, [row._mapping], problems):
                for chain_id, seq, digest, _row_id in document["heads"]:
                    self.heads[int(chain_id)] = (int(seq), str(digest))
        for problem in problems:
            log.warning("anchors: %s; its heads are not trusted", problem)


# --- making an anchor ------------------------------------------------------------------------


@dataclass
class AnchorResult:
    """What one call of :func:`create_anchor` did."""

    anchor_ids: list[int]  # anchors made now (none: a periodic anchor with nothing moved)
    heads: int  # chain heads they list
    file: Path
    file_lines: int = 0  # lines appended (earlier anchors the file lacked included)
    file_error: str | None = None
    webhook: bool = False  # a webhook is configured
    webhook_sent: int = 0
    webhook_error: str | None = None
    # Heads that disagree with an earlier anchor (cut short, rewritten) and anchors in the
    # table that fail their MAC: nothing was anchored for them; `infotrack verify` explains.
    problems: list[str] = field(default_factory=list)

    @property
    def anchor_id(self) -> int | None:
        """The last anchor made now."""
        return self.anchor_ids[-1] if self.anchor_ids else None

    @property
    def ok(self) -> bool:
        """True when everything made reached every configured place outside the database."""
        return self.file_error is None and self.webhook_error is None

    def failure(self) -> str | None:
        """What did not reach the outside, in one Chinese sentence; None when all did."""
        if self.ok:
            return None
        parts = []
        if self.file_error:
            parts.append(f"未能写入锚点文件 {self.file}:{self.file_error}")
        if self.webhook_error:
            parts.append(f"未能送达 webhook:{self.webhook_error}")
        what = (
            f"锚点 #{self.anchor_id} 已存入数据库,但"
            if self.anchor_ids
            else "此前的锚点仍未写到库外:"
        )
        return f"{what}{';'.join(parts)}。修正后再运行 `infotrack anchor`,缺失的锚点会按顺序补写"

    def check(self) -> None:
        """Raise :class:`AnchorFailed` unless the anchor reached every outside place."""
        failure = self.failure()
        if failure:
            raise AnchorFailed(failure)


def create_anchor(
    engine: Engine,
    settings: Settings,
    key: AuditKey,
    *,
    reason: str,
    operator: str | None,
    clock: Clock | None = None,
    book: AnchorBook | None = None,
) -> AnchorResult:
    """Anchor the chain heads that moved; write them to the file and the webhook.

    See the module docstring for the order of writes. Database errors propagate (nothing is
    written then); file and webhook failures come back in the result (:meth:`AnchorResult.check`
    turns them into an error).
    """
    if reason not in REASONS:
        raise ValueError(f"unknown anchor reason {reason!r}")
    clock = clock or Clock()
    book = book if book is not None else AnchorBook()
    documents, problems = _insert_anchors(engine, settings, key, reason, operator, clock, book)
    result = AnchorResult(
        anchor_ids=[d["id"] for d in documents],
        heads=sum(len(d["heads"]) for d in documents),
        file=settings.anchor_file,
        problems=problems,
    )
    _write_file(engine, settings, key, result)
    if settings.audit_anchor_webhook_url:
        delivery = deliver_anchors(
            engine, settings, key, clock, first_new=result.anchor_ids[0] if documents else None
        )
        result.webhook = True
        result.webhook_sent, result.webhook_error = delivery.sent, delivery.error
        result.problems += [p for p in delivery.problems if p not in result.problems]
    return result


def _operator(operator: str | None) -> str | None:
    if operator is None:
        return None
    # A lone surrogate (an odd OS user name) must not make the line unwritable.
    return operator.encode("utf-8", "replace").decode("utf-8")[:255]


def _insert_anchors(
    engine: Engine,
    settings: Settings,
    key: AuditKey,
    reason: str,
    operator: str | None,
    clock: Clock,
    book: AnchorBook,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Store the anchor rows (several when many chains moved); their documents, and problems."""
    operator = _operator(operator)
    for _ in range(INSERT_ATTEMPTS):
        try:
            with engine.begin() as conn:
                book.refresh(conn, key)
                latest = conn.execute(
                    select(ANCHORS.c.id, ANCHORS.c.mac).order_by(ANCHORS.c.id.desc()).limit(1)
                ).first()
                moved, problems = _moved_heads(conn, book)
                if not moved and reason == "periodic":
                    return [], problems
                next_id = int(latest.id) + 1 if latest else 1
                prev = latest.mac if latest else None
                at = clock.local_now(settings.zone)
                chunks = [
                    moved[i : i + MAX_HEADS_PER_ANCHOR]
                    for i in range(0, len(moved), MAX_HEADS_PER_ANCHOR)
                ] or [[]]
                documents = []
                for offset, chunk in enumerate(chunks):
                    document = anchor_document(
                        next_id + offset,
                        at.strftime("%Y-%m-%d %H:%M:%S"),
                        key.key_id,
                        reason,
                        operator,
                        chunk,
                        prev,
                    )
                    document["mac"] = prev = key.mac(document)
                    conn.execute(
                        insert(ANCHORS).values(
                            id=document["id"],
                            anchored_at=at,
                            key_id=key.key_id,
                            reason=reason,
                            operator=operator,
                            heads=json.dumps(chunk, separators=(",", ":")),
                            prev_mac=document["prev"],
                            mac=document["mac"],
                        )
                    )
                    documents.append(document)
        except IntegrityError:
            continue  # another process anchored first: build on its anchor instead
        for document in documents:
            for chain_id, seq, digest, _row_id in document["heads"]:
                book.heads[chain_id] = (seq, digest)
        book.upto = max(book.upto, documents[-1]["id"])
        return documents, problems
    raise AppError("锚点写入冲突:其他进程持续在同时创建锚点,请稍后重试", code="anchor_busy")


def _moved_heads(conn: Connection, book: AnchorBook) -> tuple[list[list[Any]], list[str]]:
    """Heads that moved forward from their anchored position, and those that went wrong."""
    moved: list[list[Any]] = []
    problems: list[str] = []
    to_confirm: dict[int, list[Any]] = {}
    for chain_id, (seq, digest, row_id) in sorted(chain_heads(conn).items()):
        anchored = book.heads.get(chain_id)
        head = [chain_id, seq, digest, row_id]
        if anchored is None:
            moved.append(head)
        elif seq > anchored[0]:
            to_confirm[chain_id] = head
        elif seq < anchored[0]:
            problems.append(
                f"链 {chain_id}:锚点记录其已写到序号 {anchored[0]},库中只到序号 {seq}"
                "(末尾的行被删除?)"
            )
        elif digest != anchored[1]:
            problems.append(f"链 {chain_id}:序号 {seq} 的链哈希与锚点记录的不同(链被重算?)")
    # A chain that moved on is anchored only if its anchored position still holds the anchored
    # hash; a position no longer in the table (archived, or deleted: a gap `verify` reports)
    # cannot be confirmed either way.
    anchored_now = _hashes_at(conn, [(c, book.heads[c][0]) for c in to_confirm])
    for chain_id, head in to_confirm.items():
        seq, digest = book.heads[chain_id]
        found = anchored_now.get((chain_id, seq))
        if found is not None and found != digest:
            problems.append(
                f"链 {chain_id}:已锚定的序号 {seq} 的链哈希与锚点记录的不同(链被重算?),"
                "该链本次未锚定"
            )
        else:
            moved.append(head)
    moved.sort()
    return moved, problems


def _hashes_at(conn: Connection, positions: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    for i in range(0, len(positions), 500):
        part = positions[i : i + 500]
        rows = conn.execute(
            select(_T.chain_id, _T.chain_seq, _T.chain_hash).where(
                tuple_(_T.chain_id, _T.chain_seq).in_(part)
            )
        )
        for chain_id, seq, digest in rows:
            found[(int(chain_id), int(seq))] = str(digest)
    return found


def _write_file(engine: Engine, settings: Settings, key: AuditKey, result: AnchorResult) -> None:
    """Append every anchor the file lacks; a failure is noted in ``result``."""
    written: list[int] = []

    def missing(last_id: int | None) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            documents = vouched_documents(conn, last_id or 0, key, result.problems)
        if last_id is None and len(documents) > len(result.anchor_ids):
            log.warning(
                "anchor file %s holds no anchor: writing all %d from the database",
                settings.anchor_file,
                len(documents),
            )
        written.extend(d["id"] for d in documents)
        return documents

    try:
        result.file_lines, last_id = append_anchors(
            settings.anchor_file, missing, lambda document: mac_holds(key, document)
        )
    except AnchorFileError as exc:
        result.file_error = exc.reason
        return
    if result.anchor_ids and result.anchor_ids[-1] not in written:
        # The file is ahead of the table: anchors were removed from it, or it was restored.
        result.file_error = (
            f"文件已写到锚点 #{last_id},而数据库中最新的锚点是 #{result.anchor_ids[-1]}"
            "(锚点表被删改或从备份恢复过?);核查后把旧文件另存,再运行 `infotrack anchor`"
        )


# --- reading the file back (the verifier) ----------------------------------------------------


@dataclass
class AnchoredHead:
    """A chain's head as the anchor file last recorded it."""

    seq: int
    hash: str
    row_id: int
    anchor_id: int
    at: str


@dataclass
class AnchoredHeads:
    """What the anchor file vouches for: the latest anchored head per chain, and problems."""

    heads: dict[int, AnchoredHead]
    anchors: int  # anchor lines read
    problems: list[str]  # Chinese, each naming its line


def read_anchor_file(path: Path, key: AuditKey, *, conn: Connection | None = None) -> AnchoredHeads:
    """Read and check the anchor file: MACs, ``prev`` links, the key that made each line.

    A line that fails is reported and its heads are not used. A file starts with the first
    anchor (the writer fills a new file from the table), so a first line with a ``prev`` means
    lines were removed from the top. With ``conn``, the file is also held against the table:
    a missing file, or one that ends before the table does (lines removed at the end, or a
    failed write not yet made good), is reported.
    """
    result = AnchoredHeads({}, 0, [])
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        count = anchor_count(conn) if conn is not None else 0
        if count:
            result.problems.append(
                f"锚点文件 {path} 不存在,但数据库中记录了 {count} 个锚点:"
                "文件被删除、移走,或从未写成功"
            )
        return result
    except OSError as exc:
        result.problems.append(f"无法读取锚点文件 {path}:{os_reason(exc)}")
        return result
    previous: tuple[int, int, str | None] | None = None  # line number, anchor id, mac
    last_id = 0
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            result.anchors += 1
            document = parse_anchor_line(raw)
            if document is None:
                result.problems.append(f"第 {number} 行:不是完整的锚点记录(无法解析)")
                continue
            anchor_id = document["id"]
            last_id = max(last_id, anchor_id)
            if previous is None and document["prev"] is not None:
                result.problems.append(
                    f"第 {number} 行:锚点 #{anchor_id} 是文件中的第一条,却接在更早的锚点之后:"
                    "文件开头的行被删除"
                )
            elif previous is not None and document["prev"] != previous[2]:
                result.problems.append(
                    f"第 {number} 行:锚点 #{anchor_id} 的 prev 与上一条锚点(第 {previous[0]} 行,"
                    f"锚点 #{previous[1]})对不上:其间的锚点被删除,或行被改动、调换"
                )
            previous = (number, anchor_id, document["mac"])
            if document["key_id"] != key.key_id:
                result.problems.append(
                    f"第 {number} 行:锚点 #{anchor_id} 由另一个审计密钥"
                    f"(key_id {document['key_id']})签署,无法用当前密钥校验"
                )
                continue
            if not mac_holds(key, document):
                result.problems.append(f"第 {number} 行:锚点 #{anchor_id} 的 MAC 不符:该行被改动过")
                continue
            for chain_id, seq, digest, row_id in document["heads"]:
                result.heads[chain_id] = AnchoredHead(
                    seq, digest, row_id, anchor_id, document["at"]
                )
    if conn is not None:
        later = int(
            conn.execute(
                select(func.count()).select_from(ANCHORS).where(ANCHORS.c.id > last_id)
            ).scalar_one()
        )
        if later:
            result.problems.append(
                f"锚点文件 {path} 止于锚点 #{last_id},数据库中还有 {later} 个更晚的锚点:"
                "文件末尾的行被删除,或写入失败后尚未补写"
            )
    return result
