"""Checking the trail: every chained row, every link, the ledgers and the outside anchors.

The table is read in slices of ids, in parallel processes for large tables. Each slice
checks its rows' hashes and gathers, per chain, *runs*: stretches of consecutive positions
whose links hold. The merge then walks each chain's runs in order of position — a hole between
runs is a deletion, two runs on one position an insertion, a run that does not link to the
one before it a rewrite — and holds the anchors against what it found.

What each finding means (``Problem.kind``):

- ``altered``: a row whose content no longer matches its hash, in its place in the chain;
- ``deleted``: positions of a chain with no row (between two rows, at its start, or after
  its last row up to an anchored position);
- ``inserted``: a row that claims a position already held, a row with our columns but no
  chain, a row of a chain nobody registered, or (with ``INFOTRACK_AUDIT_EXTERNAL_WRITERS=false``)
  any unchained row;
- ``rewritten``: rows whose hashes hold but disagree with an anchor or with the row before
  them — the chain was recomputed, which takes the key;
- ``unknown_key``: a chain linked under another audit key (its rows cannot be checked);
- ``ledger`` / ``anchors``: an erasure or archive ledger entry, or an anchor line, that fails
  its MAC or its links.

Rows the CRM's own code wrote carry no chain: they are counted and listed as such, not as
tampering.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Select, and_, create_engine, func, select
from sqlalchemy.engine import Connection, Engine

from infotrack.audit.anchors import AnchoredHeads, read_anchor_file
from infotrack.audit.chain import PLAIN_COLUMNS, AuditKey
from infotrack.audit.ledger import load_archives, load_erasures
from infotrack.config import Settings
from infotrack.db import scan_reader
from infotrack.kit.raw_rows import fetch_raw
from infotrack.models.audit import TrailChain
from infotrack.models.informationtra import informationtra

# Rows read per query, and the table size from which slices go to worker processes.
READ_CHUNK = 20_000
PARALLEL_FROM_ROWS = 200_000
# Problems listed per kind (all are counted): a trail rewritten with a wrong key would
# otherwise list every row.
MAX_LISTED_PER_KIND = 1000
# Unchained row ids listed (all are counted).
MAX_UNCHAINED_LISTED = 100

_T = informationtra.c
_READ_COLUMNS = (
    _T.id,
    _T.chain_id,
    _T.chain_seq,
    _T.chain_prev,
    _T.chain_hash,
    *(getattr(_T, name) for name in PLAIN_COLUMNS),
    _T.userId,
    _T.operationEvent,
    _T.changes,
)
_PLAIN = slice(5, 5 + len(PLAIN_COLUMNS))
_PERSONAL_AT = 5 + len(PLAIN_COLUMNS)
# Our own columns: a row carrying any of them was written by infotrack, hence chained.
_OURS_AT = tuple(5 + PLAIN_COLUMNS.index(name) for name in ("event_type", "request_id"))


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding, with the row (or position) it concerns."""

    kind: str
    detail: str
    row_id: int | None = None
    chain_id: int | None = None
    seq: int | None = None

    def data(self) -> dict[str, Any]:
        """The API's form."""
        return {
            "kind": self.kind,
            "rowId": self.row_id,
            "chainId": self.chain_id,
            "seq": self.seq,
            "detail": self.detail,
        }


@dataclass
class VerifyReport:
    """What a check found."""

    checked_rows: int = 0
    chained_rows: int = 0
    unchained_rows: int = 0
    unchained_ids: list[int] = field(default_factory=list)
    chains: int = 0
    erased_rows: int = 0
    archived_rows: int = 0
    anchors: int = 0
    anchored_heads_checked: int = 0
    min_id: int | None = None
    max_id: int | None = None
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (unchained rows of the CRM are not wrong)."""
        return not self.counts

    def add(self, problem: Problem) -> None:
        """Count a problem; list it while its kind has room."""
        self.counts[problem.kind] += 1
        if self.counts[problem.kind] <= MAX_LISTED_PER_KIND:
            self.problems.append(problem)

    def data(self) -> dict[str, Any]:
        """The API's form."""
        return {
            "ok": self.ok,
            "checkedRows": self.checked_rows,
            "chainedRows": self.chained_rows,
            "unchainedRows": self.unchained_rows,
            "unchainedIds": self.unchained_ids,
            "chains": self.chains,
            "erasedRows": self.erased_rows,
            "archivedRows": self.archived_rows,
            "anchors": self.anchors,
            "anchoredHeadsChecked": self.anchored_heads_checked,
            "minId": self.min_id,
            "maxId": self.max_id,
            "problemCounts": dict(self.counts),
            "problems": [p.data() for p in sorted(self.problems, key=_problem_order)],
        }


def _problem_order(p: Problem) -> tuple[int, int, int]:
    return (p.row_id or 0, p.chain_id or 0, p.seq or 0)


# --- one slice ------------------------------------------------------------------------------
@dataclass(slots=True)
class Run:
    """Consecutive positions of one chain, each row's ``chain_prev`` equal to the hash before."""

    start_seq: int
    start_prev: str
    start_id: int
    end_seq: int
    end_hash: str
    end_id: int
    bad: list[tuple[int, int]] = field(default_factory=list)  # (row id, seq) failing their hash


@dataclass
class SliceResult:
    """What one slice found; merged by :func:`_merge`."""

    rows: int = 0
    chained: int = 0
    unchained: int = 0
    unchained_ids: list[int] = field(default_factory=list)
    runs: dict[int, list[Run]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    anchored_seen: set[tuple[int, int]] = field(default_factory=set)


@dataclass(frozen=True)
class SliceJob:
    """Everything a worker process needs to check ids ``lo``..``hi``."""

    url: str
    secret: bytes
    lo: int
    hi: int
    original: dict[int, str]
    current: dict[int, str]
    anchored: dict[tuple[int, int], str]
    foreign_chains: frozenset[int]
    external_writers: bool


def check_slice(job: SliceJob, engine: Engine | None = None) -> SliceResult:
    """Check rows with ids in [lo, hi] (on an engine of its own unless one is given)."""
    own = engine is None
    engine = engine if engine is not None else create_engine(job.url)
    try:
        with _reader(engine) as fetch:
            return _check_rows(job, _read(fetch, job.lo, job.hi))
    finally:
        if own:
            engine.dispose()


@contextmanager
def _reader(engine: Engine) -> Iterator[Callable[[Select[Any]], Sequence[Sequence[Any]]]]:
    """Rows as the driver returns them: sqlite3's cursor; on MySQL the asyncio driver, because
    PyMySQL decodes rows in pure Python (ten times slower, see :func:`infotrack.db.scan_reader`)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            yield partial(fetch_raw, conn)
        return
    with scan_reader(engine) as fetch:
        yield fetch


def _read(
    fetch: Callable[[Select[Any]], Sequence[Sequence[Any]]], lo: int, hi: int
) -> Iterable[Sequence[Any]]:
    after = lo - 1
    while True:
        query = (
            select(*_READ_COLUMNS)
            .where(and_(_T.id > after, _T.id <= hi))
            .order_by(_T.id)
            .limit(READ_CHUNK)
        )
        rows = fetch(query)
        yield from rows
        if len(rows) < READ_CHUNK:
            return
        after = rows[-1][0]


def _check_rows(job: SliceJob, rows: Iterable[Sequence[Any]]) -> SliceResult:
    key = AuditKey(job.secret)
    link = key.link_plain
    commitment = key.commitment
    out = SliceResult()
    open_runs: dict[int, Run] = {}
    original, current, anchored = job.original, job.current, job.anchored
    for row in rows:
        out.rows += 1
        row_id, chain_id, seq, prev, stored = row[0], row[1], row[2], row[3], row[4]
        if chain_id is None:
            _unchained(job, out, row, commitment)
            continue
        out.chained += 1
        seq = int(seq)
        personal = row[_PERSONAL_AT : _PERSONAL_AT + 3]
        made = commitment(*personal)
        intact = True
        reported = False  # one finding per row
        if row_id in current:
            if made != current[row_id]:
                reported = True
                out.problems.append(
                    Problem(
                        "altered",
                        "删除个人信息之后,该行的个人信息字段又被改动",
                        row_id,
                        chain_id,
                        seq,
                    )
                )
            made = original[row_id]
        if chain_id not in job.foreign_chains:
            intact = (
                prev is not None
                and stored is not None
                and link(prev, chain_id, seq, row[_PLAIN], made) == stored
            )
        if anchored and (chain_id, seq) in anchored:
            out.anchored_seen.add((chain_id, seq))
            if anchored[(chain_id, seq)] != stored:
                out.problems.append(
                    Problem(
                        "rewritten",
                        "与链外锚点记录的哈希不一致:该链在此位置及之前被重新计算过",
                        row_id,
                        chain_id,
                        seq,
                    )
                )
        run = open_runs.get(chain_id)
        if run is not None and seq == run.end_seq + 1 and prev == run.end_hash:
            run.end_seq, run.end_hash, run.end_id = seq, stored, row_id
        else:
            run = Run(seq, prev, row_id, seq, stored, row_id)
            out.runs.setdefault(chain_id, []).append(run)
            open_runs[chain_id] = run
        if not intact and not reported:
            run.bad.append((row_id, seq))
    return out


def _unchained(
    job: SliceJob, out: SliceResult, row: Sequence[Any], commitment: Callable[..., str]
) -> None:
    row_id = row[0]
    if any(row[i] is not None for i in (2, 3, 4)):
        out.problems.append(Problem("inserted", "链字段不完整的行(缺少链ID)", row_id))
    elif any(row[i] is not None for i in _OURS_AT):
        out.problems.append(
            Problem(
                "inserted",
                "带有 infotrack 字段却不在任何链上的行(infotrack 写入的行都有链)",
                row_id,
            )
        )
    elif not job.external_writers:
        out.problems.append(Problem("inserted", "不在链上的行(已设置不允许 CRM 自行写入)", row_id))
    else:
        out.unchained += 1
        if len(out.unchained_ids) < MAX_UNCHAINED_LISTED:
            out.unchained_ids.append(row_id)
        expected = job.current.get(row_id)
        if expected is not None:
            # An erasure changed this CRM row: it must stay as the erasure left it.
            personal = row[_PERSONAL_AT : _PERSONAL_AT + 3]
            if commitment(*personal) != expected:
                out.problems.append(
                    Problem("altered", "删除个人信息之后,该行的个人信息字段又被改动", row_id)
                )


# --- the whole check --------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyRange:
    """Which rows to check: all, or those whose ids fall in the time range's id bounds."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def full(self) -> bool:
        """True when the whole table is checked (chain starts and tails too)."""
        return self.start is None and self.end is None


def verify_trail(
    settings: Settings,
    engine: Engine,
    *,
    scope: VerifyRange | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Check the trail (or the rows of a time range) against the key, ledgers and anchors."""
    scope = scope or VerifyRange()
    key = AuditKey(settings.resolved_audit_key())
    report = VerifyReport()
    with engine.connect() as conn:
        registry = {row.id: row.key_id for row in conn.execute(select(TrailChain))}
        erasures = load_erasures(conn, key)
        archives = load_archives(conn, key)
        lo, hi = _id_bounds(conn, scope)
        anchors = read_anchor_file(settings.anchor_file, key, conn=conn)
    for p in erasures.problems + archives.problems:
        report.add(Problem("ledger", f"{p.table} #{p.entry_id}:{p.detail}"))
    report.erased_rows = len(erasures.current)
    report.archived_rows = archives.archived_rows
    report.anchors = anchors.anchors
    for text in anchors.problems:
        report.add(Problem("anchors", text))
    foreign = frozenset(c for c, kid in registry.items() if kid != key.key_id)
    for chain_id in sorted(foreign):
        report.add(
            Problem("unknown_key", "该链由另一个审计密钥签署,本密钥无法校验", chain_id=chain_id)
        )
    report.min_id, report.max_id = lo, hi
    if lo is None or hi is None:
        results: list[SliceResult] = []
    else:
        job = SliceJob(
            url=engine.url.render_as_string(hide_password=False),
            secret=settings.resolved_audit_key(),
            lo=lo,
            hi=hi,
            original=erasures.original,
            current=erasures.current,
            anchored={(c, h.seq): h.hash for c, h in anchors.heads.items()},
            foreign_chains=foreign,
            external_writers=settings.audit_external_writers,
        )
        results = _run_slices(job, engine, workers)
    _merge(report, results, registry, key, archives.chains, anchors, scope, (lo, hi))
    return report


def _id_bounds(conn: Connection, scope: VerifyRange) -> tuple[int | None, int | None]:
    """The first and last id to check; a time range maps onto ids through operationTime's
    index (rows are appended in time order, so that is the stretch of the table it covers)."""
    query = select(func.min(_T.id), func.max(_T.id))
    if scope.start is not None:
        query = query.where(_T.operationTime >= scope.start)
    if scope.end is not None:
        query = query.where(_T.operationTime < scope.end)
    lo, hi = conn.execute(query).one()
    return lo, hi


def _run_slices(job: SliceJob, engine: Engine, workers: int | None) -> list[SliceResult]:
    assert job.lo is not None
    assert job.hi is not None
    span = job.hi - job.lo + 1
    count = workers if workers is not None else (os.cpu_count() or 1)
    if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
        count = 1  # an in-memory database is not visible to other processes
    if count <= 1 or span < PARALLEL_FROM_ROWS:
        return [check_slice(job, engine)]
    # More slices than processes evens out slices that are denser than others.
    slices = count * 4
    step = -(-span // slices)
    jobs = [
        SliceJob(
            job.url,
            job.secret,
            start,
            min(start + step - 1, job.hi),
            job.original,
            job.current,
            job.anchored,
            job.foreign_chains,
            job.external_writers,
        )
        for start in range(job.lo, job.hi + 1, step)
    ]
    # Spawned, not forked: the server process that asks has threads of its own.
    with ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn")) as pool:
        return list(pool.map(check_slice, jobs))


@dataclass
class _Expect:
    """Where a chain should continue: the next position and the hash it must link to."""

    seq: int
    prev: str
    after_id: int | None


def _merge(
    report: VerifyReport,
    results: list[SliceResult],
    registry: dict[int, str],
    key: AuditKey,
    archived: dict[int, Any],
    anchors: AnchoredHeads,
    scope: VerifyRange,
    bounds: tuple[int | None, int | None],
) -> None:
    runs: dict[int, list[Run]] = {}
    seen_anchored: set[tuple[int, int]] = set()
    for result in results:
        report.checked_rows += result.rows
        report.chained_rows += result.chained
        report.unchained_rows += result.unchained
        room = MAX_UNCHAINED_LISTED - len(report.unchained_ids)
        report.unchained_ids.extend(result.unchained_ids[:room])
        for problem in result.problems:
            report.add(problem)
        for chain_id, chain_runs in result.runs.items():
            runs.setdefault(chain_id, []).extend(chain_runs)
        seen_anchored |= result.anchored_seen
    report.chains = len(runs)
    last_seq: dict[int, int] = {}
    for chain_id, chain_runs in sorted(runs.items()):
        last_seq[chain_id] = _walk_chain(
            report,
            chain_id,
            chain_runs,
            registry.get(chain_id),
            key,
            archived.get(chain_id),
            scope,
        )
    _check_anchor_tails(report, anchors, seen_anchored, last_seq, archived, scope, bounds)


def _walk_chain(
    report: VerifyReport,
    chain_id: int,
    chain_runs: list[Run],
    key_id: str | None,
    key: AuditKey,
    archived: Any,
    scope: VerifyRange,
) -> int:
    """Walk one chain's runs by position; report holes, duplicates and broken links."""
    chain_runs.sort(key=lambda r: (r.start_seq, r.start_id))
    registered = key_id is not None
    if not registered:
        first = chain_runs[0]
        report.add(
            Problem(
                "inserted",
                "行所属的链未登记(伪造的行,或链登记表被改动)",
                first.start_id,
                chain_id,
                first.start_seq,
            )
        )
    if not scope.full or (registered and key_id != key.key_id):
        # Only the stretch read (or a chain under another key): holes inside it still count.
        first = chain_runs[0]
        expect = _Expect(first.start_seq, first.start_prev, None)
    elif archived is not None:
        expect = _Expect(archived.last_seq + 1, archived.last_hash, None)
    else:
        expect = _Expect(1, key.genesis(chain_id), None)
    for run in chain_runs:
        bad_kind = "altered" if registered else "inserted"
        if run.start_seq > expect.seq:
            where = "链的开头" if expect.after_id is None else f"行 {expect.after_id} 之后"
            report.add(
                Problem(
                    "deleted",
                    f"{where}缺少链内序号 {expect.seq}–{run.start_seq - 1} 的 "
                    f"{run.start_seq - expect.seq} 行(在行 {run.start_id} 之前)",
                    run.start_id,
                    chain_id,
                    expect.seq,
                )
            )
        elif run.start_seq < expect.seq:
            # A position already held: this run is the copy or the forgery.
            report.add(
                Problem(
                    "inserted",
                    f"链内序号 {run.start_seq}–{min(run.end_seq, expect.seq - 1)} 已有别的行"
                    f"(行 {run.start_id}–{run.end_id} 是插入的)",
                    run.start_id,
                    chain_id,
                    run.start_seq,
                )
            )
            bad_kind = "inserted"
        elif run.start_prev != expect.prev and run.start_id not in {i for i, _ in run.bad}:
            # In its place and intact, but linked to something other than the row before it
            # (or the chain's start): the chain from here on was recomputed, with the key.
            before = f"前一行(行 {expect.after_id})" if expect.after_id is not None else "链的起点"
            report.add(
                Problem(
                    "rewritten",
                    f"与{before}的哈希不衔接:此处起的链被重新计算过",
                    run.start_id,
                    chain_id,
                    run.start_seq,
                )
            )
        for row_id, seq in run.bad:
            if bad_kind == "inserted":
                detail = "链哈希不符且位置已被占用(插入的行)"
            elif row_id == run.end_id:
                # No later row vouches for its stored hash: changed, or forged at the end.
                detail = "内容与链哈希不符(链末或断点处的行:被改动或伪造)"
            else:
                detail = "内容与链哈希不符(该行被改动过)"
            report.add(Problem(bad_kind, detail, row_id, chain_id, seq))
        if run.end_seq >= expect.seq:
            expect = _Expect(run.end_seq + 1, run.end_hash, run.end_id)
    return expect.seq - 1


def _check_anchor_tails(
    report: VerifyReport,
    anchors: AnchoredHeads,
    seen: set[tuple[int, int]],
    last_seq: dict[int, int],
    archived: dict[int, Any],
    scope: VerifyRange,
    bounds: tuple[int | None, int | None],
) -> None:
    """Anchored positions not met in the rows: archived, out of range, or deleted."""
    lo, hi = bounds
    for chain_id, head in sorted(anchors.heads.items()):
        if not scope.full and (lo is None or hi is None or not lo <= head.row_id <= hi):
            continue
        report.anchored_heads_checked += 1
        if (chain_id, head.seq) in seen:
            continue
        done = archived.get(chain_id)
        if done is not None and head.seq <= done.last_seq:
            continue
        live_last = last_seq.get(chain_id)
        if live_last is None:
            report.add(
                Problem(
                    "deleted",
                    f"锚点 #{head.anchor_id}({head.at})记录该链已写到序号 {head.seq}"
                    f"(行 {head.row_id}),但库中已没有该链的任何行",
                    head.row_id,
                    chain_id,
                    head.seq,
                )
            )
        elif head.seq > live_last:
            report.add(
                Problem(
                    "deleted",
                    f"锚点 #{head.anchor_id}({head.at})记录该链已写到序号 {head.seq}"
                    f"(行 {head.row_id}),库中只到序号 {live_last}:末尾的行被删除",
                    head.row_id,
                    chain_id,
                    live_last + 1,
                )
            )
        # Otherwise the position lies in a hole already reported as deleted.
