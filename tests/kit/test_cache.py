"""TTLMap: the small thread-safe cache behind customer and account lookups."""

from __future__ import annotations

import threading
import time

from infotrack.kit.cache import MISSING, Missing, TTLMap


def test_put_then_get() -> None:
    cache: TTLMap[str, int] = TTLMap(10, 60)
    assert cache.get("a") is MISSING
    cache.put("a", 1)
    assert cache.get("a") == 1


def test_none_is_a_cached_answer_not_a_miss() -> None:
    cache: TTLMap[str, None] = TTLMap(10, 60)
    cache.put("unknown", None)
    assert cache.get("unknown") is None
    assert not isinstance(cache.get("unknown"), Missing)


def test_ttl_zero_disables_caching() -> None:
    cache: TTLMap[str, int | None] = TTLMap(10, 0)
    cache.put("a", 1)
    cache.put("b", None)
    assert cache.get("a") is MISSING
    assert cache.get("b") is MISSING
    cache.pop("a")  # harmless when disabled


def test_entries_expire_after_ttl() -> None:
    cache: TTLMap[str, int] = TTLMap(10, 0.05)
    cache.put("a", 1)
    assert cache.get("a") == 1
    time.sleep(0.12)
    assert cache.get("a") is MISSING


def test_put_again_restarts_the_ttl() -> None:
    cache: TTLMap[str, int] = TTLMap(10, 0.3)
    cache.put("a", 1)
    time.sleep(0.2)
    cache.put("a", 2)
    time.sleep(0.2)  # 0.4 s after the first put, 0.2 s after the second
    assert cache.get("a") == 2


def test_pop_forgets_and_tolerates_unknown_keys() -> None:
    cache: TTLMap[str, int] = TTLMap(10, 60)
    cache.put("a", 1)
    cache.pop("a")
    cache.pop("never-there")
    assert cache.get("a") is MISSING


def test_size_is_bounded() -> None:
    cache: TTLMap[int, int] = TTLMap(3, 60)
    for i in range(10):
        cache.put(i, i)
    present = [i for i in range(10) if cache.get(i) is not MISSING]
    assert len(present) == 3
    assert 9 in present  # the newest survives


def test_size_zero_still_works() -> None:
    cache: TTLMap[str, int] = TTLMap(0, 60)
    cache.put("a", 1)
    assert cache.get("a") == 1


def test_missing_repr() -> None:
    assert repr(MISSING) == "MISSING"


def test_concurrent_use() -> None:
    cache: TTLMap[int, int] = TTLMap(1000, 60)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(500):
                key = (offset * 7 + i) % 200
                cache.put(key, key)
                value = cache.get(key)
                assert value is MISSING or value == key
                if i % 10 == 0:
                    cache.pop(key)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
