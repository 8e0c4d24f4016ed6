"""What the pool does when one of its worker processes dies: fail and requeue its trial now.

A worker started by ``serve`` or ``worker --concurrency N`` that dies (``kill -9``, out of
memory, a segfault in a CUDA driver) would otherwise hold its trial RUNNING until the
heartbeat grace period (default 60 s) runs out. The parent knows at once — the child's
exit — so it fails the trial the child's heartbeat row names (with a WAITING retry, as a
SIGTERM does), releases a λ path it owned, and drops the row. Remote workers, whose death
nobody observes, keep the heartbeat rule.
"""

from __future__ import annotations

import logging
import socket

import optuna
from optuna.trial import TrialState

from service.errors import NotFoundError
from service.scheduler import fail_trial, release_path
from service.settings import Settings
from service.storage import forget_worker, get_study_record, open_backend, workers_of_process
from service.storage._optuna_private import trial_id_of

__all__ = ["PARENT_PID_ENV", "fail_work_of_dead_process"]

#: Set for pool children: a child whose parent died (e.g. ``kill -9`` of ``serve``) stops.
PARENT_PID_ENV = "SHRINKNETS_WORKER_PARENT_PID"

_log = logging.getLogger(__name__)


def fail_work_of_dead_process(settings: Settings, pid: int, exit_code: int | None) -> int:
    """Fail (and requeue) the trial the dead local worker ``pid`` was training.

    Returns:
        The number of trials failed (0 or 1).
    """
    opened = open_backend(settings)
    engine, storage = opened.engine, opened.storage
    failed = 0
    try:
        for row in workers_of_process(engine, host=socket.gethostname(), pid=pid):
            if row.study_id is not None:
                try:
                    record = get_study_record(engine, row.study_id)
                except NotFoundError:  # deleted meanwhile
                    record = None
                if record is not None and row.trial_number is None:
                    release_path(engine, record, row.worker_id)
                elif record is not None:
                    study = optuna.load_study(study_name=record.study_name, storage=storage)
                    running = [t for t in study.get_trials(deepcopy=False,
                                                           states=(TrialState.RUNNING,))
                               if t.number == row.trial_number]
                    for frozen in running:
                        trial = optuna.trial.Trial(study, trial_id_of(frozen))
                        fail_trial(storage, engine, record, trial, retry=True,
                                   reason=f"worker process died (exit code {exit_code})")
                        failed += 1
                        _log.warning("study %s trial %d: its worker process %d died; failed "
                                     "and requeued", record.study_name, frozen.number, pid)
            forget_worker(engine, row.worker_id)
    finally:
        engine.dispose()
    return failed
