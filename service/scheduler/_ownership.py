"""Ownership of path studies (``lambda_path``, ``prune_path``): one training, so one worker at
a time."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import Engine

from service.scheduler._claim import _study
from service.storage import (
    RUNNABLE_STATUSES,
    StudyRecord,
    StudyRow,
    WorkerRow,
    db_lock,
    session_scope,
    utcnow,
)
from service.storage._optuna_private import study_id_of, trial_id_of

__all__ = ["claim_path", "release_path"]


def claim_path(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord, worker_id: str,
    *, stale_after_s: float,
) -> optuna.Study | None:
    """Make ``worker_id`` the owner of a ``lambda_path`` study (one training, one worker).

    A study owned by another worker whose heartbeat is fresher than ``stale_after_s`` is
    left alone. When the previous owner is gone (crash, SIGTERM) the path is taken over:
    ``run_lambda_path`` keeps the steps already stored (each one a finished trial) and
    continues from its last checkpoint, or from a fresh network at the first missing λ; a
    path ends at the grid's end (``n_trials`` steps) or collapse, or — with a compute
    budget — when it is spent on refining the path's front (``studies._path_refine``).

    Returns:
        The study to run ``run_lambda_path`` on, or None.
    """
    study = _study(storage, record)
    if study is None:
        return None
    with db_lock(engine, key=study_id_of(study)), session_scope(engine) as session:
        row = session.get(StudyRow, record.id)
        if row is None or row.status not in RUNNABLE_STATUSES:
            return None
        if row.owner not in (None, worker_id):
            owner = session.get(WorkerRow, row.owner)
            if owner is not None and (utcnow() - owner.last_seen).total_seconds() < stale_after_s:
                return None
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            tid = trial_id_of(frozen)
            try:
                storage.set_trial_user_attr(tid, "failure_reason", "λ path owner lost")
                storage.set_trial_state_values(tid, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
        row.owner, row.status = worker_id, "running"
        study.set_user_attr("status", "running")
    return study


def release_path(engine: Engine, record: StudyRecord, worker_id: str) -> None:
    """Drop ``worker_id``'s ownership of a ``lambda_path`` study."""
    with session_scope(engine) as session:
        row = session.get(StudyRow, record.id)
        if row is not None and row.owner == worker_id:
            row.owner = None
