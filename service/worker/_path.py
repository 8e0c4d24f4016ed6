"""Path studies (``lambda_path``, ``prune_path``): one training shrunk step by step, owned by
one worker."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any, Protocol

import optuna
from sqlalchemy.engine import Engine

from service.scheduler import claim_path, release_path
from service.settings import Settings
from service.storage import StudyRecord, set_study_status

__all__ = ["PathWorker", "run_path"]


class PathWorker(Protocol):
    """What running a λ path needs of its worker (``service.worker._loop.Worker``)."""

    storage: optuna.storages.RDBStorage
    engine: Engine
    settings: Settings
    worker_id: str
    device: str
    artifacts: Any
    models: Any
    patience: Any

    def epoch_check(self, record: StudyRecord) -> Any: ...

    def working_on(self, record: StudyRecord) -> AbstractContextManager[None]: ...


_log = logging.getLogger(__name__)


def run_path(worker: PathWorker, record: StudyRecord) -> bool:
    """Run a λ path if no live worker owns it. Returns True when this worker ran it.

    The path's steps are finished trials written by ``studies.execute.run_lambda_path``.
    Cancellation and SIGTERM stop it at the next epoch (``TrialStopped``); a path stopped
    by SIGTERM is released and the next worker resumes it from its last checkpoint (an
    Optuna artifact in the service's artifact store, ``service.artifacts``; a worker that
    cannot read it — another machine without that folder — restarts the path at its first
    missing step). Each step's network is kept as ``SHRINKNETS_KEEP_MODELS`` says.
    """
    study = claim_path(worker.storage, worker.engine, record, worker.worker_id,
                       stale_after_s=worker.settings.grace_period_s)
    if study is None:
        return False
    try:
        with worker.working_on(record):
            _run(worker, record, study)
    finally:
        release_path(worker.engine, record, worker.worker_id)
    return True


def _run(worker: PathWorker, record: StudyRecord, study: optuna.Study) -> None:
    from studies.execute import TrialStopped, run_lambda_path

    _log.info("study %s: λ path start", record.study_name)
    try:
        run_lambda_path(study, record.study_spec, device=worker.device,
                        on_epoch=worker.epoch_check(record),
                        checkpoints=worker.artifacts, models=worker.models,
                        patience=worker.patience)
    except TrialStopped as e:
        _log.info("study %s: path stopped: %s", record.study_name, e)
    except Exception as e:
        _log.exception("study %s: λ path failed", record.study_name)
        worker.patience.call(set_study_status, worker.storage, worker.engine, record.id,
                             "finished", error=f"λ path failed: {type(e).__name__}: {e}")
    else:
        worker.patience.call(set_study_status, worker.storage, worker.engine, record.id,
                             "finished")
        _log.info("study %s: λ path finished", record.study_name)
