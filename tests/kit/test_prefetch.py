"""``prefetched``: a producer in its own thread, a few items ahead, stopped with its consumer."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from infotrack.kit.prefetch import prefetched


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Generator[int, None, None]:
        for n in range(100):
            threads.add(threading.current_thread().name)
            yield n

    assert list(prefetched(produce, depth=3)) == list(range(100))
    assert threads == {"infotrack-prefetch"}


def test_the_producers_error_is_raised_to_the_consumer_after_its_items() -> None:
    def produce() -> Generator[int, None, None]:
        yield 1
        yield 2
        raise LookupError("数据库断开")

    items = prefetched(produce)
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(LookupError, match="数据库断开"):
        next(items)


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()
    made = []

    def produce() -> Generator[int, None, None]:
        try:
            for n in range(1_000_000):
                made.append(n)
                yield n
        finally:
            closed.set()  # where a connection would be released

    items = prefetched(produce, depth=2)
    assert next(items) == 0
    items.close()
    assert closed.is_set(), "closing the consumer waits for the producer to let go"
    assert len(made) <= 5, "the producer ran at most a few items ahead"
