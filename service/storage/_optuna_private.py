"""Every use of Optuna's private API in the service, behind one module.

Each name says which public gap it fills; ``pyproject.toml`` pins ``optuna`` to the minor
release the tests ran on, so an upgrade that moves one of these fails the suite here
rather than in production.
"""

from __future__ import annotations

import optuna

# Optuna's read-through cache of finished trials: no public storage wrapper caches them.
from optuna.storages._cached_storage import _CachedStorage as CachedStorage
from optuna.storages._cached_storage import _StudyInfo

# The SQLAlchemy models of Optuna's RDB tables: no public API counts trials by state, reads
# heartbeats or sums user attributes in one query (``get_all_trials`` loads every trial).
from optuna.storages._rdb import models as optuna_models

__all__ = [
    "CachedStorage",
    "new_trial_id",
    "optuna_models",
    "stale_trial_ids",
    "study_id_of",
    "trial_id_of",
    "trial_object",
]


def study_id_of(study: optuna.Study) -> int:
    """The storage id of ``study``: public storage methods take it, but ``Study`` only
    exposes its name (``get_study_id_from_name`` would cost a query per call)."""
    return study._study_id


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage id of ``trial`` (``Trial`` and ``FrozenTrial`` keep it private)."""
    return trial._trial_id


def stale_trial_ids(storage: optuna.storages.RDBStorage, study_id: int) -> list[int]:
    """RUNNING trials whose heartbeat is older than the grace period. The public
    ``fail_stale_trials`` fails them at once; the service needs the ids first to record
    why each one failed."""
    return storage._get_stale_trial_ids(study_id)


def new_trial_id(study: optuna.Study) -> int:
    """Create a RUNNING trial in ``study`` through its own storage, as ``study.ask()`` does
    (a trial cache then knows it); ``Study`` exposes its storage privately only."""
    return study._storage.create_new_trial(study._study_id)


def trial_object(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``Trial`` of a trial already RUNNING in ``study``: what ``study.ask()`` returns
    after it reserved the trial. The service reserves trials itself, under its lock, without
    ``ask`` reading every trial of the study to find WAITING ones (``_pop_waiting_trial_id``
    loads them all), and builds the object (a read of that one trial and the sampler's
    ``before_trial``) after releasing the lock. Optuna documents the constructor as
    internal.

    A study on a trial cache (``CachedStorage``) must know the trial (it writes parameters
    only for trials it knows): a trial it created is known; another (a retry taken from the
    queue) is read alone and cached as unfinished, as the cache's own read would. Nothing
    here reads the whole study: that first read happens when the trial samples, while its
    worker's heartbeats cover it.
    """
    storage = study._storage
    if isinstance(storage, CachedStorage):
        with storage._lock:
            known = trial_id in storage._trial_id_to_study_id_and_number
        if not known:
            frozen = storage._backend.get_trial(trial_id)
            with storage._lock:
                info = storage._studies.setdefault(study._study_id, _StudyInfo())
                storage._add_trials_to_cache(study._study_id, [frozen])
                info.unfinished_trial_ids.add(trial_id)
    return optuna.Trial(study, trial_id)
