"""One writer's chain: registered on first use, advanced only by batches known to be committed.

A writer seals a batch from its head in memory (:func:`infotrack.audit.chain.seal`), inserts it,
and keeps the new head once the commit succeeded. If the batch is rolled back the head stays
where it was. If the commit's outcome is unknown (the connection died while committing), the
rows may or may not be there, so the chain is abandoned and the next batch starts a new one:
two chains never share a position, and no committed row is left unlinked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from infotrack.audit.chain import AuditKey, ChainHead, fresh_head, seal
from infotrack.kit.clock import local_now
from infotrack.models.audit import TrailChain


def writer_label(purpose: str) -> str:
    """Who writes: host, process and what for (kept with the chain for investigations)."""
    return f"{socket.gethostname()}:{os.getpid()} {purpose}"[:255]


class WriterChain:
    """The chain one writer appends to; not shared between concurrent writers."""

    def __init__(self, key: AuditKey, zone: ZoneInfo, purpose: str) -> None:
        self.key = key
        self._zone = zone
        self._purpose = purpose
        self.head: ChainHead | None = None

    @property
    def registered(self) -> bool:
        """True once the chain has an id (its registry row committed)."""
        return self.head is not None

    def register(self, conn: Connection) -> None:
        """Start a chain: its registry row, committed on its own (outside any batch)."""
        with conn.begin():
            result = conn.execute(
                insert(TrailChain).values(
                    key_id=self.key.key_id,
                    writer=writer_label(self._purpose),
                    started_at=local_now(self._zone),
                )
            )
            primary_key = result.inserted_primary_key
            assert primary_key is not None
        self.head = fresh_head(self.key, int(primary_key[0]))

    def seal(self, rows: Sequence[MutableMapping[str, Any]]) -> ChainHead:
        """Fill in the rows' chain columns after the head; the head to keep once committed."""
        assert self.head is not None, "register() first"
        return seal(self.key, self.head, rows)

    def advance(self, head: ChainHead) -> None:
        """The batch sealed up to ``head`` is committed."""
        self.head = head

    def abandon(self) -> None:
        """A commit's outcome is unknown: the next batch starts a new chain."""
        self.head = None
