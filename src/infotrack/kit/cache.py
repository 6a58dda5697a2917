"""A small thread-safe TTL map (cachetools underneath) with an explicit "not cached" answer."""

from __future__ import annotations

import threading
from typing import Final, Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K")
V = TypeVar("V")


class Missing:
    """The type of :data:`MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()


class TTLMap(Generic[K, V]):
    """Entries expire ``ttl`` seconds after they are put; ``ttl == 0`` disables caching."""

    def __init__(self, maxsize: int, ttl: float) -> None:
        self._cache: TTLCache[K, V] | None = TTLCache(max(maxsize, 1), ttl) if ttl > 0 else None
        self._lock = threading.Lock()

    def get(self, key: K) -> V | Missing:
        """The cached value (which may itself be ``None``), or :data:`MISSING`."""
        if self._cache is None:
            return MISSING
        with self._lock:
            try:
                return self._cache[key]
            except KeyError:
                return MISSING

    def put(self, key: K, value: V) -> None:
        """Cache a value."""
        if self._cache is not None:
            with self._lock:
                self._cache[key] = value

    def pop(self, key: K) -> None:
        """Forget a key."""
        if self._cache is not None:
            with self._lock:
                self._cache.pop(key, None)
