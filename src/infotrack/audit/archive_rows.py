"""Rows of an archive: how a trail row is written down, and how a set of them is checked.

The same checks run twice: on the rows read from the database before an archive is made (so
tampering is refused, never laundered into a freshly MAC'd file) and on the rows read back
from an archive file (``infotrack archive verify``). A chained row is checked on its own (its
hash over its content and its ``chain_prev``); the links between rows are checked per chain
once every row is in, as *runs* of consecutive positions, so rows need not arrive in position
order (ids and positions may disagree on distributed engines).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

from infotrack.audit.chain import CHAIN_COLUMNS, TIME_COLUMNS, AuditKey, canonical_time
from infotrack.audit.ledger import ErasureLedger
from infotrack.audit.row_seal import check_erased_row, check_sealed_row

# At most this many problems are listed (all are counted): a file checked with the wrong
# key would otherwise list every row.
MAX_LISTED = 1000


def jsonable(name: str, value: Any) -> Any:
    """A stored value as an archive holds it: our times to the second, the rest as stored."""
    if value is None or isinstance(value, str | int | float):
        return canonical_time(value) if name in TIME_COLUMNS else value
    if name in TIME_COLUMNS:
        return canonical_time(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | clock_time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    return str(value)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Something wrong with a row (or a stretch of a chain), named by row id where there is one."""

    detail: str
    row_id: int | None = None
    chain_id: int | None = None


@dataclass(slots=True)
class Run:
    """Consecutive positions of one chain, each row linked to the hash stored before it."""

    start_seq: int
    start_prev: str | None
    start_id: int
    end_seq: int
    end_hash: str | None
    end_id: int


@dataclass(frozen=True, slots=True)
class ChainSpan:
    """The rows of one chain a set holds: ``[first_seq, first_prev, last_seq, last_hash]``."""

    first_seq: int
    first_prev: str
    last_seq: int
    last_hash: str
    rows: int

    def entry(self) -> list[Any]:
        """The manifest's form (what the archive ledger reads)."""
        return [self.first_seq, self.first_prev, self.last_seq, self.last_hash]


# Columns only infotrack writes: an unchained row carrying one was not written by the CRM.
_OUR_COLUMNS = ("event_type", "request_id")


class RowChecker:
    """Checks rows one at a time, in any order, and then how each chain's rows link up."""

    def __init__(
        self,
        key: AuditKey,
        erasures: ErasureLedger,
        *,
        chain_key_ids: Mapping[int, str] | None = None,
        external_writers: bool = True,
    ) -> None:
        self._key = key
        self._erasures = erasures
        self._chain_key_ids = chain_key_ids  # None: the caller vouches for the chains' key
        self._external_writers = external_writers
        self.runs: dict[int, list[Run]] = {}
        self._open: dict[int, Run] = {}
        self.problems: list[RowProblem] = []
        self.problem_count = 0
        self.rows = 0
        self.unchained = 0
        self.erased = 0

    def problem(self, detail: str, row_id: int | None = None, chain_id: int | None = None) -> None:
        """Count a problem; list it while there is room."""
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(RowProblem(detail, row_id, chain_id))

    def add(self, row: Mapping[str, Any]) -> None:
        """Check one row (its values as :func:`jsonable` gives them)."""
        self.rows += 1
        row_id = row["id"]
        chain_id: Any = row.get("chain_id")
        seq: Any = row.get("chain_seq")
        prev: Any = row.get("chain_prev")
        stored: Any = row.get("chain_hash")
        if chain_id is None:
            self._unchained(row_id, row)
            return
        fault = check_sealed_row(self._key, row, self._erasures, self._chain_key_ids)
        if fault is not None and fault.kind in ("malformed", "unregistered", "foreign"):
            self.problem(fault.detail, row_id, None if fault.kind == "malformed" else chain_id)
            return  # no position to link up
        if row_id in self._erasures.current:
            self.erased += 1
        if fault is not None:
            self.problem(fault.detail, row_id, chain_id)
        run = self._open.get(chain_id)
        if run is not None and seq == run.end_seq + 1 and prev == run.end_hash:
            run.end_seq, run.end_hash, run.end_id = seq, stored, row_id
        else:
            run = Run(seq, prev, row_id, seq, stored, row_id)
            self.runs.setdefault(chain_id, []).append(run)
            self._open[chain_id] = run

    def _unchained(self, row_id: int, row: Mapping[str, Any]) -> None:
        if any(row.get(name) is not None for name in CHAIN_COLUMNS[1:]):
            self.problem("链字段不完整的行(缺少链ID)", row_id)
        elif any(row.get(name) is not None for name in _OUR_COLUMNS):
            self.problem("带有 infotrack 字段却不在任何链上的行(infotrack 写入的行都有链)", row_id)
        elif not self._external_writers:
            self.problem("不在链上的行(已设置 INFOTRACK_AUDIT_EXTERNAL_WRITERS=false)", row_id)
        else:
            self.unchained += 1
            if row_id in self._erasures.current:
                self.erased += 1
                fault = check_erased_row(self._key, row, self._erasures)
                if fault is not None:
                    self.problem(fault.detail, row_id)

    def link_chains(self, start: Callable[[int], tuple[int, str] | None]) -> dict[int, ChainSpan]:
        """Walk each chain's runs by position from ``start(chain_id)`` (the position and the
        ``chain_prev`` its first row must have; ``None``: the chain may not appear). Every gap,
        repeated position and broken link is a problem; returns what each chain spans."""
        spans: dict[int, ChainSpan] = {}
        for chain_id, runs in sorted(self.runs.items()):
            runs.sort(key=lambda r: (r.start_seq, r.start_id))
            expected = start(chain_id)
            if expected is None:
                self.problem(f"链 {chain_id} 不应出现在这里", runs[0].start_id, chain_id)
                continue
            seq, prev = expected
            rows = 0
            for run in runs:
                if run.start_seq > seq:
                    self.problem(
                        f"链 {chain_id} 缺少序号 {seq}–{run.start_seq - 1} 的行"
                        f"(在行 {run.start_id} 之前)",
                        run.start_id,
                        chain_id,
                    )
                elif run.start_seq < seq:
                    self.problem(
                        f"链 {chain_id} 的序号 {run.start_seq} 重复出现(行 {run.start_id})",
                        run.start_id,
                        chain_id,
                    )
                elif run.start_prev != prev:
                    self.problem(
                        f"链 {chain_id} 序号 {run.start_seq}:与前一行的哈希不衔接",
                        run.start_id,
                        chain_id,
                    )
                rows += run.end_seq - run.start_seq + 1
                seq, prev = run.end_seq + 1, run.end_hash or ""
            first, last = runs[0], runs[-1]
            spans[chain_id] = ChainSpan(
                first.start_seq, first.start_prev or "", last.end_seq, last.end_hash or "", rows
            )
        return spans
