"""``lambda_path`` studies: one training whose λ is raised step by step, owned by one worker."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.scheduler import claim_path, release_path
from service.storage import StudyRecord, set_study_status

if TYPE_CHECKING:
    from service.worker._loop import Worker

__all__ = ["run_path"]

_log = logging.getLogger(__name__)


def run_path(worker: Worker, record: StudyRecord) -> bool:
    """Run a λ path if no live worker owns it. Returns True when this worker ran it.

    The path's steps are finished trials written by ``studies.execute.run_lambda_path``.
    Cancellation and SIGTERM stop it at the next epoch (``TrialStopped``); a path stopped
    by SIGTERM is released and the next worker resumes it from its last checkpoint (an
    Optuna artifact in the service's artifact store, ``service.artifacts``; a worker that
    cannot read it — another machine without that folder — restarts the path at its first
    missing step). Each step's network is kept as ``SHRINKNETS_KEEP_MODELS`` says.
    """
    from studies.execute import TrialStopped, run_lambda_path

    study = claim_path(worker.storage, worker.engine, record, worker.worker_id,
                       stale_after_s=worker.settings.grace_period_s)
    if study is None:
        return False
    worker._current = (record, None, None)
    worker.beat_now()
    _log.info("study %s: λ path start", record.study_name)
    try:
        run_lambda_path(study, record.study_spec, device=worker.device,
                        on_epoch=worker.epoch_check(record),
                        checkpoints=worker.artifacts, models=worker.models,
                        patience=worker.patience)
    except TrialStopped as e:
        _log.info("study %s: λ path stopped: %s", record.study_name, e)
    except Exception as e:
        _log.exception("study %s: λ path failed", record.study_name)
        worker.patience.call(set_study_status, worker.storage, worker.engine, record.id,
                             "finished", error=f"λ path failed: {type(e).__name__}: {e}")
    else:
        worker.patience.call(set_study_status, worker.storage, worker.engine, record.id,
                             "finished")
        _log.info("study %s: λ path finished", record.study_name)
    finally:
        worker._current = None
        release_path(worker.engine, record, worker.worker_id)
    return True
