"""Run a producer a few items ahead of its consumer, in a thread of its own.

For a producer that waits (database round trips, or SQLite, whose driver lets go of the
interpreter lock while it steps through rows) and a consumer that computes (formatting a
file), the two overlap instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import TypeVar

T = TypeVar("T")

_POLL = 0.1  # seconds: how soon a blocked producer notices that the consumer has gone


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(produce: Callable[[], Generator[T, None, None]], depth: int = 2) -> Iterator[T]:
    """The items of ``produce()``, made in a worker thread at most ``depth`` ahead.

    The producer's exception is raised in the consumer. A consumer that stops early (a client
    that disconnects) stops the producer and waits for it, so ``produce()``'s resources (its
    connection) are released before this generator finishes closing.
    """
    items: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: T | _Done | _Failed) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with closing(produce()) as produced:
                for item in produced:
                    if not hand_over(item):
                        return
            hand_over(_Done())
        except BaseException as error:  # handed to the consumer, which raises it
            hand_over(_Failed(error))

    worker = threading.Thread(target=work, name="infotrack-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
