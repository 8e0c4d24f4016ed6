"""Per-study read caches of the API process: trials and what the views derive from them.

:class:`TrialReaders` keeps one :class:`StudyReader` per Optuna study: its trials through
Optuna's ``_CachedStorage`` (a finished trial is read from the database once), views of
each finished trial, and values derived from the complete trials.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import optuna

from service.storage._optuna_private import CachedStorage, trial_id_of

__all__ = ["FREEZE_AFTER_TRIALS", "SETTLED_REFRESH_S", "StudyReader", "TrialReaders"]

FREEZE_AFTER_TRIALS = 2000
"""Newly cached trials after which :meth:`StudyReader.trials` freezes the GC's survivors."""

SETTLED_REFRESH_S = 5.0
"""How often the trials of an ended study whose trials have all finished are re-read."""


class StudyReader:
    """What one process knows of one Optuna study, kept across requests.

    * Trials: Optuna's own ``_CachedStorage`` — a finished trial never changes, so it is
      read from the database once; later reads fetch only the trials that are new or were
      unfinished (what ``optuna.load_study`` does within one call, kept across requests).
    * Per-trial views (:meth:`finished_view`): whatever a caller derives from one finished
      trial (e.g. its response model), built once.
    * Derived values of the complete trials (:meth:`complete_view`): complete trials never
      change and only ever grow in number, so e.g. the Pareto front is rebuilt only when
      that number changes.

    Args:
        storage: The Optuna storage the study lives in.
        study_name: The Optuna study name.
        on_new_trials: Called with the number of newly cached finished trials (see
            :class:`TrialReaders`).
    """

    def __init__(
        self,
        storage: optuna.storages.RDBStorage,
        study_name: str,
        on_new_trials: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.storage: optuna.storages.BaseStorage = CachedStorage(storage)
        self.study_name = study_name
        self._backend = storage
        self._on_new = on_new_trials
        self._lock = threading.Lock()
        self._study_id: int | None = None
        self._seen = 0
        self._last: tuple[float, list[optuna.trial.FrozenTrial]] | None = None
        self._by_trial: dict[tuple[Hashable, int], Any] = {}
        self._complete: dict[Hashable, tuple[int, Any]] = {}

    def study_id(self) -> int:
        """The Optuna study id (read once).

        Raises:
            KeyError: the Optuna study does not exist.
        """
        if self._study_id is None:
            self._study_id = self._backend.get_study_id_from_name(self.study_name)
        return self._study_id

    def trials(self, *, settled: bool = False) -> list[optuna.trial.FrozenTrial]:
        """Every trial of the study by number (shared objects: treat them as read-only).

        Args:
            settled: The caller read the study's status as ended (finished or cancelled)
                before calling: no trial will be added. When the last such read found
                every trial finished, the database is asked again only every
                ``SETTLED_REFRESH_S`` seconds.

        Raises:
            KeyError: the Optuna study does not exist.
        """
        now = time.monotonic()
        with self._lock:
            last = self._last
            if settled and last is not None and now - last[0] < SETTLED_REFRESH_S:
                return last[1]
        trials = self.storage.get_all_trials(self.study_id(), deepcopy=False)
        with self._lock:
            # kept only from a read made after the study had ended: a snapshot taken
            # before could miss trials added up to the end
            every_finished = settled and all(t.state.is_finished() for t in trials)
            self._last = (now, trials) if every_finished else None
            new, self._seen = len(trials) - self._seen, len(trials)
        if new > 0:
            self._on_new(new)
        return trials

    def finished_view(
        self, kind: Hashable, trial: optuna.trial.FrozenTrial,
        build: Callable[[optuna.trial.FrozenTrial], Any],
    ) -> Any:
        """``build(trial)``, kept per ``kind`` when the trial is finished (it cannot change)."""
        if not trial.state.is_finished():
            return build(trial)
        key = (kind, trial_id_of(trial))
        with self._lock:
            if key in self._by_trial:
                return self._by_trial[key]
        value = build(trial)
        with self._lock:
            self._by_trial[key] = value
        return value

    def complete_view(
        self, kind: Hashable, trials: list[optuna.trial.FrozenTrial],
        build: Callable[[list[optuna.trial.FrozenTrial]], Any],
    ) -> Any:
        """``build(complete trials)``, rebuilt only when their number changes.

        Args:
            kind: Names the derived value (one study keeps several).
            trials: The study's trials as :meth:`trials` returned them.
            build: Computes the value from the COMPLETE trials (by number).
        """
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        with self._lock:
            cached = self._complete.get(kind)
            if cached is not None and cached[0] == len(complete):
                return cached[1]
        value = build(complete)
        with self._lock:
            self._complete[kind] = (len(complete), value)
        return value


class TrialReaders:
    """One :class:`StudyReader` per Optuna study name, least recently read dropped first.

    Keyed by the Optuna study name, which embeds the public id, so a deleted study whose
    numeric id is reused is never confused with the new one.

    Cached trials are millions of small objects that Python's cyclic garbage collector
    would walk on every full collection (hundreds of ms, pausing every request). Each time
    ``FREEZE_AFTER_TRIALS`` more trials are cached, garbage is collected once and the
    survivors are moved out of the collector's sight (``gc.freeze``); they are still freed
    by reference counting when evicted.

    Args:
        max_studies: How many studies to keep (each holds its trials with their per-epoch
            histories in memory).
    """

    def __init__(self, max_studies: int = 32) -> None:
        self._max = max_studies
        self._lock = threading.Lock()
        self._readers: OrderedDict[str, StudyReader] = OrderedDict()
        self._unfrozen = 0

    def _cached(self, n: int) -> None:
        with self._lock:
            self._unfrozen += n
            settle = self._unfrozen >= FREEZE_AFTER_TRIALS
            if settle:
                self._unfrozen = 0
        if settle:
            gc.collect()
            gc.freeze()

    def get(self, storage: optuna.storages.RDBStorage, study_name: str) -> StudyReader:
        """The reader of ``study_name`` on ``storage`` (created on first use)."""
        with self._lock:
            reader = self._readers.get(study_name)
            if reader is None:
                reader = StudyReader(storage, study_name, on_new_trials=self._cached)
                self._readers[study_name] = reader
                while len(self._readers) > self._max:
                    self._readers.popitem(last=False)
            self._readers.move_to_end(study_name)
            return reader
