"""Which rows of a growing table are new: a high-water mark plus the id gaps below it.

Ids are taken at insert but become visible at commit, so under concurrent writers a row can
appear after rows with higher ids (and MySQL-compatible distributed engines hand each node its
own block of ids). A plain "id > checkpoint" would skip such a row for good. The tail keeps
every unseen id range below its high-water mark as a gap and keeps asking for rows in it;
finding a row splits the gap. A gap with no row found for ``grace`` seconds is given up: a
rolled-back insert leaves its id unused forever.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_GAPS = 10_000  # beyond this the oldest gaps are given up (a pathological id pattern)


@dataclass(slots=True)
class Gap:
    """Ids ``lo``..``hi`` (inclusive) not seen yet; ``since`` is when one was last found near."""

    lo: int
    hi: int
    since: float


@dataclass
class TailState:
    """Where a tail stands: everything above ``high`` is unseen, and so are the gaps."""

    high: int = 0
    gaps: list[Gap] = field(default_factory=list)  # sorted by lo, disjoint, all below high
    # operationTime / occurred_at of the newest row seen (ISO), where a warm-up starts from.
    last_event_at: str | None = None

    def observe(self, row_id: int, now: float) -> bool:
        """Mark ``row_id`` seen; False when it was seen before (a row is evaluated once)."""
        if row_id > self.high:
            if row_id > self.high + 1:
                self.gaps.append(Gap(self.high + 1, row_id - 1, now))
            self.high = row_id
            return True
        index = bisect.bisect_right([gap.lo for gap in self.gaps], row_id) - 1
        if index < 0 or self.gaps[index].hi < row_id:
            return False
        gap = self.gaps[index]
        parts = []
        if gap.lo < row_id:
            parts.append(Gap(gap.lo, row_id - 1, now))
        if row_id < gap.hi:
            parts.append(Gap(row_id + 1, gap.hi, now))
        self.gaps[index : index + 1] = parts
        return True

    def expire(self, now: float, grace: float) -> list[Gap]:
        """Give up gaps that have been silent for ``grace`` seconds (or beyond the cap)."""
        kept = [gap for gap in self.gaps if now - gap.since < grace]
        if len(kept) > MAX_GAPS:
            kept.sort(key=lambda gap: gap.since)
            kept = sorted(kept[-MAX_GAPS:], key=lambda gap: gap.lo)
        kept_ids = {id(gap) for gap in kept}
        dropped = [gap for gap in self.gaps if id(gap) not in kept_ids]
        if dropped:
            self.gaps = kept
        return dropped

    def to_json(self) -> dict[str, Any]:
        """The state as stored in the checkpoint."""
        return {
            "high": self.high,
            "gaps": [[gap.lo, gap.hi, gap.since] for gap in self.gaps],
            "lastEventAt": self.last_event_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TailState:
        """The state from a stored checkpoint."""
        return cls(
            high=int(data["high"]),
            gaps=[Gap(int(lo), int(hi), float(since)) for lo, hi, since in data.get("gaps", [])],
            last_event_at=data.get("lastEventAt"),
        )
