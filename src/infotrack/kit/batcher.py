"""Group work submitted concurrently into batches, handled one batch at a time.

The pattern behind group commit: while one batch is being handled, new submissions queue
up and become the next batch, so the per-batch cost (round trips, a commit) is shared by
everything that arrived meanwhile, and batches grow exactly as fast as load does.

It runs as a task on the event loop, with an asyncio database driver: no worker threads,
so no GIL hand-offs on every round trip (with threads, each one waited for the busy event
loop to yield the interpreter — several milliseconds per round trip under load).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class BatchTimeout(Exception):
    """No outcome in time (the work may still complete later)."""


class Batcher(Generic[T, R]):
    """Applies ``handle`` to batches of submitted items; each item gets its own outcome.

    ``handle`` returns one outcome per item, in order: a result or an error *value*. If it
    raises, every item of that batch gets ``on_crash(exc)``, and the next batch is served.
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        on_crash: Callable[[BaseException], R],
        *,
        max_batch: int,
    ) -> None:
        self._name = name
        self._handle = handle
        self._on_crash = on_crash
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start serving, on the running event loop (idempotent)."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Handle everything already queued, then stop."""
        if self._task is not None and self._queue is not None:
            self._queue.put_nowait(_STOP)
            await self._task
            self._task = None

    async def submit(self, items: Sequence[T], timeout: float) -> list[R]:
        """Queue items and wait for their outcomes; raises :class:`BatchTimeout`."""
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError(f"{self._name} is not running")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._queue.put_nowait((item, future))
            futures.append(future)
        try:
            async with asyncio.timeout(timeout):
                return [await future for future in futures]
        except TimeoutError as exc:
            raise BatchTimeout() from exc

    async def _run(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                outcomes = list(await self._handle([item for item, _ in batch]))
            except Exception as exc:  # the batcher must survive anything to serve the next one
                log.exception("%s failed on a batch of %d", self._name, len(batch))
                outcomes = [self._on_crash(exc)] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # a waiter that timed out has gone
                    future.set_result(outcome)
