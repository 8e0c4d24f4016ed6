"""An in-process cache of answers, figures and metrics computed from studies.

A finished study never changes, so its answers, plots and comparison metrics are
computed once per process. Keys include the number of finished trials, so a study that
somehow gains trials (a retried trial completing after a restart) is recomputed rather
than served stale. Figures of running studies are served from their last build and
rebuilt in the background (:meth:`ResultCache.get_or_refresh`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger("service.api")

__all__ = ["ResultCache"]


def _size(value: Any) -> int:
    if isinstance(value, _Live):
        value = value.value
    return len(value) if isinstance(value, str | bytes) else 1024


class ResultCache:
    """A small thread-safe LRU map from a hashable key to a computed JSON-ready value.

    Args:
        max_entries: How many values to keep; the least recently used is dropped first.
        max_bytes: How much serialised JSON to keep (str and bytes values count their
            length, anything else 1 KiB); the least recently used is dropped first.
    """

    def __init__(self, max_entries: int = 2048, max_bytes: int = 128 * 2**20) -> None:
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._pool: ThreadPoolExecutor | None = None

    def get_or_compute(self, key: Hashable | None, compute: Callable[[], Any]) -> Any:
        """The cached value for ``key``, computing and storing it on a miss.

        Args:
            key: The cache key, or None to compute without caching (running studies).
            compute: Builds the value; called outside the lock.

        Returns:
            The value (shared between callers: treat it as read-only).
        """
        if key is None:
            return compute()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = compute()
        with self._lock:
            if key in self._items:
                self._bytes -= _size(self._items[key])
            self._items[key] = value
            self._bytes += _size(value)
            self._items.move_to_end(key)
            while len(self._items) > self._max or (
                self._bytes > self._max_bytes and len(self._items) > 1
            ):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _size(dropped)
        return value

    def get_or_refresh(
        self, key: Hashable, version: Hashable, compute: Callable[[], Any], *,
        detail: Hashable = None, every_s: float = 0.0,
    ) -> Any:
        """The value for ``key``, served at once even when it is out of date.

        For values that change while they are shown (figures of running studies): the
        first request for ``key`` computes it; later ones get the stored value. One
        rebuild starts in the background (one at a time per process, at most one per
        key) when ``version`` differs from the stored build's, or when only ``detail``
        differs and the build is at least ``every_s`` seconds old.

        Args:
            key: Identifies the value.
            version: What the value shows that must be current (e.g. trial counts).
            compute: Builds the value; also run on the background thread.
            detail: What may lag behind by up to ``every_s`` (e.g. live epochs).
            every_s: The least time between rebuilds for a changed ``detail``.
        """
        now = time.monotonic()
        with self._lock:
            live = self._items.get(key)
            if isinstance(live, _Live):
                self._items.move_to_end(key)
                self.hits += 1
                stale = live.version != version or (
                    live.detail != detail and now - live.built_at >= every_s
                )
                if stale and not live.refreshing:
                    live.refreshing = True
                    self._refresher().submit(self._refresh, key, live, version, detail, compute)
                return live.value
        return self.get_or_compute(key, lambda: _Live(version, detail, compute(), now)).value

    def _refresher(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresh")
        return self._pool

    def _refresh(
        self, key: Hashable, live: _Live, version: Hashable, detail: Hashable,
        compute: Callable[[], Any],
    ) -> None:
        started = time.monotonic()
        try:
            fresh = _Live(version, detail, compute(), started)
        except Exception:  # the stale value stays; the next request tries again
            _log.warning("background rebuild of %r failed", key, exc_info=True)
            live.refreshing = False
            return
        with self._lock:
            if self._items.get(key) is live:
                self._bytes += _size(fresh) - _size(live)
                self._items[key] = fresh

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass
class _Live:
    """A value of :meth:`ResultCache.get_or_refresh`, what it was built for, and when."""

    version: Hashable
    detail: Hashable
    value: Any
    built_at: float
    refreshing: bool = False
