"""The only code that appends to ``informationtra``.

Requests hand a :class:`RecordDraft` to :meth:`Recorder.submit` and wait; one writer per
process (a task on the event loop, see :mod:`infotrack.kit.batcher`) takes everything waiting
and appends it in one transaction (group commit), so throughput follows the database's batch
rate rather than its commit rate.
A future is resolved only after its row is committed: ``success: true`` always means durable.

Every row is chained for tamper evidence (:mod:`infotrack.audit.chain`): a batch is sealed
from the writer's chain head in memory and inserted with its hashes, so chaining costs no
round trip; the head moves only when the commit succeeded.

Idempotency lives here too: a client ``requestId`` is unique per operator (a unique index
backs it), and a repeat answers with the first row instead of writing another. Rows without
a client id get a server-made one, which also lets us read back the ids of a multi-row
insert portably (MySQL has no ``INSERT … RETURNING``; TiDB allocates ids per node).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from infotrack.audit.chain import AuditKey, ChainHead
from infotrack.audit.writer_chain import WriterChain
from infotrack.errors import AppError, CascadeForeignKeyBlocks, ServiceUnavailable
from infotrack.kit.batcher import Batcher, BatchTimeout
from infotrack.kit.clock import local_now
from infotrack.kit.held_connection import HeldConnection
from infotrack.models.informationtra import informationtra

log = logging.getLogger(__name__)

_MYSQL_FK_VIOLATION = 1452
_MYSQL_DUPLICATE_KEY = 1062
_MYSQL_DEADLOCK = 1213
# A deadlock needs two writers whose batches share request ids, and a second try rarely
# meets another one; a batch that keeps losing is settled row by row, a row that keeps
# losing is answered 503 (the client's retry with its requestId is safe).
_DEADLOCK_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Operator:
    """Who did it: the identity fields stamped on every record, from the session."""

    operator_id: str
    company: str | None
    department: str | None
    organization: str | None
    role: str | None
    name: str | None
    assistant: str | None
    side: str | None = None


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """A validated record, ready to append."""

    operator: Operator
    customer_id: str
    customer_source: str
    event_type: str
    operation_event: str
    side: str
    request_id: str  # the client's idempotency key, or one we made (see ``new_request_id``)
    idempotent: bool = False  # True when the client sent the request id
    client_addr: str | None = None
    changes_json: str | None = None
    # Only imports and the demo set this; live records are stamped at commit time.
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What the client is told: the committed row's id, customer and source."""

    id: int
    user_id: str
    source: str

    def data(self) -> dict[str, Any]:
        """The ``data`` object of the answer (identical for a repeat)."""
        return {"id": self.id, "userId": self.user_id, "source": self.source}


class Recorder:
    """Appends records, batching concurrent ones into one transaction."""

    def __init__(
        self,
        engine: Engine,
        zone: ZoneInfo,
        key: AuditKey,
        *,
        batch_max: int = 500,
        timeout: float = 10.0,
        fk_blocks_primary: bool = False,
    ) -> None:
        self._engine = engine
        self._zone = zone
        self._timeout = timeout
        # The seed's FK to users stands: contacts customers cannot be written (DESIGN.md §1).
        self.fk_blocks_primary = fk_blocks_primary
        self._held: HeldConnection | None = None
        # The event-loop writer and the blocking entry points (CLI, imports) never share a
        # chain: each appends to its own, so neither waits for the other.
        self._writer_chain = WriterChain(key, zone, "writer")
        self._sync_chain = WriterChain(key, zone, "cli")
        self._sync_lock = threading.Lock()
        self._writer: Batcher[RecordDraft, RecordResult | AppError] = Batcher(
            "infotrack-writer", self._write_batch, _as_app_error, max_batch=batch_max
        )

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, async_engine: AsyncEngine) -> None:
        """Start the writer on the running event loop (once per process)."""
        self._held = HeldConnection(async_engine)
        self._writer.start()

    async def stop(self) -> None:
        """Write whatever is queued, then stop the writer."""
        await self._writer.stop()
        if self._held is not None:
            await self._held.drop()

    # --- async entry point --------------------------------------------------------------
    async def submit(self, draft: RecordDraft) -> RecordResult:
        """Queue one record and wait until it is committed; raises its :class:`AppError`."""
        outcome = (await self.submit_many([draft]))[0]
        if isinstance(outcome, AppError):
            raise outcome
        return outcome

    async def submit_many(self, drafts: Sequence[RecordDraft]) -> list[RecordResult | AppError]:
        """Queue records and wait for all; each gets its own result or its error."""
        try:
            return await self._writer.submit(drafts, self._timeout)
        except BatchTimeout as exc:
            # Not acknowledged: a retry with the same requestId is safe whatever happened.
            raise ServiceUnavailable("写入超时,请稍后重试(可使用相同 requestId 重试)") from exc

    async def _write_batch(self, drafts: Sequence[RecordDraft]) -> list[RecordResult | AppError]:
        held = self._held
        assert held is not None
        if not (self.fk_blocks_primary and any(d.customer_source == "primary" for d in drafts)):
            try:
                return list(await self._append_fast(held, drafts))
            except _CommitUnknown as exc:
                # The rows may be committed: the careful path finds them by request id.
                log.warning("commit outcome unknown, chain restarted: %s", exc.__cause__)
                await held.drop()
            except Exception as exc:
                log.info("fast append fell back to the careful path: %s", exc)
                await held.rollback()
        # Conflicts, constraint errors, a lost connection, the seed's FK: the careful path
        # settles each row (it checks every request id first, so a batch whose commit
        # answer was lost is not written twice).
        try:
            return await held.run_sync(self.append_on, drafts, self._writer_chain)
        except DBAPIError as exc:
            log.error("database unavailable while appending %d records: %s", len(drafts), exc)
            await held.drop()
            return [ServiceUnavailable()] * len(drafts)

    async def _append_fast(
        self, held: HeldConnection, drafts: Sequence[RecordDraft]
    ) -> list[RecordResult]:
        """The common case in three round trips: insert (a repeated request id is skipped by
        the unique index on SQLite, refused on MySQL), read the ids back, commit."""
        chain = self._writer_chain
        if not chain.registered:
            await held.run_sync(chain.register)
        now = local_now(self._zone)
        if held.mysql:
            # No ON DUPLICATE KEY UPDATE: it needs the UPDATE privilege, which the application
            # account does not have (`infotrack grants`). A repeat fails the insert (1062) and
            # the careful path answers it, as it answers a repeat skipped on SQLite.
            skip_repeats = ""
            times: tuple[str, ...] = ()  # MySQL's driver takes datetime values as they are
        else:
            skip_repeats = "ON CONFLICT (request_id, operator_id) DO NOTHING"
            times = _DATETIME_COLUMNS
        columns = ", ".join(held.name(c) for c in _INSERT_COLUMNS)
        rows = []
        sealed = [_row(draft, draft.request_id, now) for draft in drafts]
        pending = chain.seal(sealed)
        for row in sealed:
            for column in times:
                # SQLite has no datetime type: store the text SQLAlchemy would store.
                row[column] = row[column].strftime("%Y-%m-%d %H:%M:%S.%f")
            rows.append([row[c] for c in _INSERT_COLUMNS])
        await held.execute_many(
            f"INSERT INTO informationtra ({columns}) VALUES ({held.marks(len(_INSERT_COLUMNS))}) "
            + skip_repeats,
            rows,
        )
        request_ids = list({d.request_id for d in drafts})
        found = await held.fetch(
            "SELECT id, {}, customer_source, request_id, operator_id, chain_id, chain_seq "
            "FROM informationtra WHERE request_id IN ({})".format(
                held.name("userId"), held.marks(len(request_ids))
            ),
            request_ids,
        )
        stored = {
            (rid, op): (row_id, user, src, c, n) for row_id, user, src, rid, op, c, n in found
        }
        results = []
        for draft, row in zip(drafts, sealed, strict=True):
            row_id, user_id, source, chain_id, seq = stored[_key(draft)]  # KeyError: careful path
            if (chain_id, seq) != (row["chain_id"], row["chain_seq"]):
                # A repeat the unique index skipped: its link is missing, so nothing of this
                # batch may stay. Rolled back by the caller; the careful path settles it.
                raise _RepeatInBatch(draft.request_id)
            results.append(RecordResult(int(row_id), str(user_id), source or ""))
        try:
            await held.commit()
        except Exception as exc:
            chain.abandon()
            raise _CommitUnknown() from exc
        chain.advance(pending)
        return results

    # --- the append itself (also used synchronously by the CLI) ------------------------------
    def append_many(self, drafts: Sequence[RecordDraft]) -> list[RecordResult | AppError]:
        """Append drafts, blocking (CLI, tests); see :meth:`append_on`."""
        with self._sync_lock, self._engine.connect() as conn:
            return self.append_on(conn, drafts, self._sync_chain)

    def append_on(
        self, conn: Connection, drafts: Sequence[RecordDraft], chain: WriterChain
    ) -> list[RecordResult | AppError]:
        """Append drafts in one transaction; on a conflict, fall back to one at a time.

        ``chain`` is the caller's own: one writer at a time appends to it.
        """
        outcomes: list[RecordResult | AppError | None] = [None] * len(drafts)
        writable: list[int] = []
        for index, draft in enumerate(drafts):
            if self.fk_blocks_primary and draft.customer_source == "primary":
                outcomes[index] = CascadeForeignKeyBlocks()
            else:
                writable.append(index)
        if writable:
            try:
                results = self._append_retrying(conn, [drafts[i] for i in writable], chain)
                for index, result in zip(writable, results, strict=True):
                    outcomes[index] = result
            except DBAPIError as exc:
                if isinstance(exc, IntegrityError | DataError) or _deadlocked(exc):
                    # A concurrent process took one of our request ids, a CRM FK or a column
                    # limit refused a row, or deadlocks kept coming: settle each row alone, so
                    # one bad row cannot fail its neighbours and each transaction takes one lock.
                    for index in writable:
                        outcomes[index] = self._append_one(conn, drafts[index], chain)
                else:
                    log.error(
                        "database unavailable while appending %d records: %s", len(writable), exc
                    )
                    for index in writable:
                        outcomes[index] = ServiceUnavailable()
        return [outcome for outcome in outcomes if outcome is not None]

    def append_bulk(self, drafts: Sequence[RecordDraft]) -> int:
        """Append many drafts in one transaction, without reading ids back (imports, demo data).

        No idempotency check: the caller guarantees fresh request ids. All or nothing.
        """
        if self.fk_blocks_primary and any(d.customer_source == "primary" for d in drafts):
            raise CascadeForeignKeyBlocks()
        now = local_now(self._zone)
        rows = [_row(draft, draft.request_id, now) for draft in drafts]
        if not rows:
            return 0
        with self._sync_lock, self._engine.connect() as conn:
            chain = self._sync_chain
            if not chain.registered:
                chain.register(conn)
            pending = chain.seal(rows)
            tx = conn.begin()
            try:
                conn.execute(insert(informationtra), rows)
            except BaseException:
                tx.rollback()
                raise
            _commit(tx, chain, pending)
        return len(rows)

    def _append_committed(
        self, conn: Connection, drafts: Sequence[RecordDraft], chain: WriterChain
    ) -> list[RecordResult]:
        """:meth:`_append` in a transaction of its own; the chain moves once it is committed."""
        if not chain.registered:
            chain.register(conn)
        tx = conn.begin()
        try:
            results, pending = self._append(conn, drafts, chain)
        except BaseException:
            tx.rollback()
            raise
        _commit(tx, chain, pending)
        return results

    def _append_retrying(
        self, conn: Connection, drafts: Sequence[RecordDraft], chain: WriterChain
    ) -> list[RecordResult]:
        """:meth:`_append_committed`, tried again when the database rolled it back to break a
        deadlock.

        Two server processes whose group commits hold the same request ids (a client re-sending
        a batch, or overlapping batches) lock them in different orders; InnoDB then rolls one
        back whole. Nothing of it stayed and the chain head did not move, so the next try starts
        clean: it finds what the winner committed and answers it, and writes the rest.
        """
        attempt = 1
        while True:
            try:
                return self._append_committed(conn, drafts, chain)
            except OperationalError as exc:
                if not _deadlocked(exc) or attempt == _DEADLOCK_ATTEMPTS:
                    raise
                log.info("append chosen as a deadlock victim (try %d), trying again", attempt)
                attempt += 1

    def _append_one(
        self, conn: Connection, draft: RecordDraft, chain: WriterChain
    ) -> RecordResult | AppError:
        try:
            return self._append_retrying(conn, [draft], chain)[0]
        except IntegrityError as exc:
            if _mysql_errno(exc) == _MYSQL_FK_VIOLATION or "FOREIGN KEY" in str(exc.orig).upper():
                if draft.customer_source == "primary":
                    self.fk_blocks_primary = True
                    return CascadeForeignKeyBlocks()
            if _mysql_errno(exc) == _MYSQL_DUPLICATE_KEY or "UNIQUE" in str(exc.orig).upper():
                # Lost a race with another process for the same request id: answer its row.
                with conn.begin():
                    found = self._existing(conn, [draft])
                if found:
                    return next(iter(found.values()))
            log.exception("record refused by the database")
            return AppError()
        except DataError:
            log.exception("record refused by the database")
            return AppError()
        except DBAPIError as exc:
            log.error("database unavailable while appending a record: %s", exc)
            return ServiceUnavailable()

    def _append(
        self, conn: Connection, drafts: Sequence[RecordDraft], chain: WriterChain
    ) -> tuple[list[RecordResult], ChainHead | None]:
        """Insert the new drafts (sealed on ``chain``) and read back their ids; repeats answer
        the first row. Also returns the chain head to keep once committed."""
        existing = self._existing(conn, drafts)
        now = local_now(self._zone)
        rows: list[dict[str, Any]] = []
        keys: list[tuple[str, str]] = []
        fresh: dict[tuple[str, str], int] = {}  # key -> index in rows
        ids: dict[tuple[str, str], int] = {}
        for draft in drafts:
            key = _key(draft)
            keys.append(key)
            if key in existing or key in fresh:
                continue
            fresh[key] = len(rows)
            rows.append(_row(draft, key[0], now))
        pending = None
        if rows:
            pending = chain.seal(rows)
            conn.execute(insert(informationtra), rows)
            ids = _ids_by_key(conn, list(fresh))
        results = []
        for draft, key in zip(drafts, keys, strict=True):
            if key in existing:
                results.append(existing[key])
            else:
                # A repeat later in the same batch answers with this row.
                existing[key] = RecordResult(ids[key], draft.customer_id, draft.customer_source)
                results.append(existing[key])
        return results, pending

    def _existing(
        self, conn: Connection, drafts: Sequence[RecordDraft]
    ) -> dict[tuple[str, str], RecordResult]:
        # Every draft, not only those with a client id: server-made ids are unique too, and
        # checking them makes a retry after an unanswered commit write nothing twice.
        keys = [_key(d) for d in drafts]
        if not keys:
            return {}
        t = informationtra.c
        query = select(t.id, t.userId, t.customer_source, t.request_id, t.operator_id).where(
            _request_ids_in(keys)
        )
        wanted = set(keys)
        return {
            (row.request_id, row.operator_id): RecordResult(
                row.id, row.userId, row.customer_source or ""
            )
            for row in conn.execute(query)
            if (row.request_id, row.operator_id) in wanted
        }


class _RepeatInBatch(Exception):
    """The fast path met a request id already stored (the careful path answers it)."""


class _CommitUnknown(Exception):
    """The commit failed in flight: the batch may or may not be stored."""


def _commit(tx: Any, chain: WriterChain, pending: ChainHead | None) -> None:
    """Commit; keep the sealed head, or abandon the chain when the outcome is unknown."""
    try:
        tx.commit()
    except BaseException:
        chain.abandon()
        raise
    if pending is not None:
        chain.advance(pending)


def new_request_id() -> str:
    """A request id for a record whose client sent none (never collides with a client's)."""
    return f"srv-{uuid.uuid4().hex}"


def _key(draft: RecordDraft) -> tuple[str, str]:
    return (draft.request_id, draft.operator.operator_id)


def _ids_by_key(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    t = informationtra.c
    query = select(t.id, t.request_id, t.operator_id).where(_request_ids_in(keys))
    wanted = set(keys)
    rows = conn.execute(query)
    return {
        (r.request_id, r.operator_id): r.id for r in rows if (r.request_id, r.operator_id) in wanted
    }


def _request_ids_in(keys: list[tuple[str, str]]) -> ColumnElement[bool]:
    # ``request_id IN (…)`` is an index search; the row-value form ``(request_id, operator_id)
    # IN ((…), …)`` made SQLite scan the whole index. The operator is checked in Python.
    return informationtra.c.request_id.in_(sorted({request_id for request_id, _ in keys}))


# The columns an append fills: all but the auto-increment id, in table order.
_INSERT_COLUMNS = tuple(column.name for column in informationtra.columns if column.name != "id")
_DATETIME_COLUMNS = ("operationTime", "created_at", "updated_at")


def _row(draft: RecordDraft, request_id: str, now: datetime) -> dict[str, Any]:
    op = draft.operator
    return {
        "tracompany": op.company,
        "tradepartment": op.department,
        "traorganization": op.organization,
        "trarole": op.role,
        "trauserName": op.name,
        "traassistant": op.assistant,
        "userId": draft.customer_id,
        "operationEvent": draft.operation_event,
        "operationTime": draft.occurred_at or now,
        "created_at": now,
        "updated_at": now,
        "event_type": draft.event_type,
        "customer_source": draft.customer_source,
        "side": draft.side,
        "operator_id": op.operator_id,
        "request_id": request_id,
        "client_addr": draft.client_addr,
        "changes": draft.changes_json,
    }


def _mysql_errno(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _deadlocked(exc: DBAPIError) -> bool:
    """InnoDB rolled the whole transaction back to break a deadlock: trying again is safe."""
    return isinstance(exc, OperationalError) and _mysql_errno(exc) == _MYSQL_DEADLOCK


def _as_app_error(exc: BaseException) -> AppError:
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, DBAPIError):
        return ServiceUnavailable()
    return AppError()
