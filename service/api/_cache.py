"""An in-process cache of figures and metrics computed from finished studies.

A finished study never changes, so its plots and comparison metrics are computed once
per process. Keys include the number of finished trials, so a study that somehow gains
trials (a retried trial completing after a restart) is recomputed rather than served
stale. Figures of running studies are kept for a few seconds at most (their key includes
a time bucket). :class:`TrialReaders` keeps each study's finished trials in memory.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import optuna
from optuna.storages._cached_storage import _CachedStorage

__all__ = ["FREEZE_AFTER_TRIALS", "ResultCache", "TrialReaders"]


class ResultCache:
    """A small thread-safe LRU map from a hashable key to a computed JSON-ready value.

    Args:
        max_entries: How many values to keep; the least recently used is dropped first.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

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
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


FREEZE_AFTER_TRIALS = 2000
"""Newly cached trials after which :meth:`TrialReaders.trials` freezes the GC's survivors."""


class TrialReaders:
    """Per-study read caches of trials: Optuna's own ``_CachedStorage``, one per study name.

    A finished trial never changes, so each process reads it from the database once; later
    reads fetch only the trials that are new or were unfinished (what ``optuna.load_study``
    does within one call, kept across requests here). Keyed by the Optuna study name, which
    embeds the public id, so a deleted study whose numeric id is reused is never confused
    with the new one.

    Args:
        max_studies: How many studies to keep (each holds its trials with their per-epoch
            histories in memory); the least recently read is dropped first.
    """

    def __init__(self, max_studies: int = 32) -> None:
        self._max = max_studies
        self._lock = threading.Lock()
        self._readers: OrderedDict[str, optuna.storages.BaseStorage] = OrderedDict()
        self._counts: dict[str, int] = {}
        self._unfrozen = 0

    def trials(
        self, storage: optuna.storages.RDBStorage, study_name: str, study_id: int
    ) -> list[optuna.trial.FrozenTrial]:
        """Every trial of the study (shared objects: treat them as read-only).

        Cached trials are millions of small objects that Python's cyclic garbage collector
        would walk on every full collection (hundreds of ms, pausing every request). Each
        time ``FREEZE_AFTER_TRIALS`` more trials are cached, garbage is collected once and
        the survivors are moved out of the collector's sight (``gc.freeze``); they are still
        freed by reference counting when evicted.
        """
        trials = self.get(storage, study_name).get_all_trials(study_id, deepcopy=False)
        with self._lock:
            self._unfrozen += max(0, len(trials) - self._counts.get(study_name, 0))
            self._counts[study_name] = len(trials)
            settle = self._unfrozen >= FREEZE_AFTER_TRIALS
            if settle:
                self._unfrozen = 0
        if settle:
            gc.collect()
            gc.freeze()
        return trials

    def get(
        self, storage: optuna.storages.RDBStorage, study_name: str
    ) -> optuna.storages.BaseStorage:
        """The caching reader of ``study_name`` on ``storage`` (created on first use)."""
        with self._lock:
            reader = self._readers.get(study_name)
            if reader is None:
                reader = _CachedStorage(storage)
                self._readers[study_name] = reader
                while len(self._readers) > self._max:
                    dropped, _ = self._readers.popitem(last=False)
                    self._counts.pop(dropped, None)
            self._readers.move_to_end(study_name)
            return reader
