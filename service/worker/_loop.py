"""One worker process: claim a trial, train it, report it, repeat.

The process records two heartbeats from a background thread every
``heartbeat_interval_s``: its ``snk_workers`` row (what it is running, for
``/healthz`` and the dashboard) and Optuna's per-trial heartbeat of the trial it
trains (Optuna records those only inside ``study.optimize``, which workers do not
use). A trial whose heartbeat stops (``kill -9``, power loss) is failed after
``grace_period_s`` by whichever worker next claims from that study, and retried.

A database outage shorter than the grace period costs no training (``studies.writes``):
the trial trains on, its per-epoch writes are kept and written once the database answers
again, its final writes and ``tell`` wait for it (up to ``grace_period_s``), and both
heartbeats are recorded at once when it is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.trial import TrialState

from service.artifacts import model_keeper, open_artifact_store
from service.errors import NotFoundError
from service.scheduler import claim_trial, fail_trial, finish_trial
from service.settings import Settings
from service.storage import (
    StudyRecord,
    db_lock,
    forget_worker,
    is_connection_error,
    open_backend,
    record_worker_heartbeat,
    runnable_study_records,
    set_study_status,
    study_status,
)
from service.storage._optuna_private import study_id_of, trial_id_of
from service.worker._path import run_path
from service.worker._reap import PARENT_PID_ENV
from shrinknets_core.errors import ShrinkNetsError
from studies.spec import PATH_KINDS
from studies.writes import Patience

__all__ = ["REASON_CANCELLED", "REASON_STOPPED", "TrialRunner", "Worker"]

_log = logging.getLogger(__name__)

REASON_CANCELLED = "cancelled"
REASON_STOPPED = "worker stopped"
_ERROR_BACKOFF_S = 5.0

#: What trains a claimed trial and returns its objective values: called as
#: ``studies.execute.run_trial`` is, ``(study, trial, spec, *, device, on_epoch, models,
#: patience, checkpoints)``; raises ``studies.TrialStopped`` when ``on_epoch`` stops
#: it and ``optuna.TrialPruned`` when it is pruned.
TrialRunner = Callable[..., list[float]]


class Worker:
    """The loop of one worker process (``run_worker`` with ``concurrency=1``).

    Args:
        settings: Storage URL, heartbeat interval and grace period, poll period.
        device: The resolved torch device this process trains on.
        stop_event: Set by SIGTERM/SIGINT: the current trial stops at its next epoch,
            is marked FAIL (``failure_reason="worker stopped"``) with a WAITING retry, and
            the loop returns.
        run_trial: What trains a claimed trial (default ``studies.execute.run_trial``;
            ``bench/claim_load.py`` passes one that sleeps, to load the claims alone).
    """

    def __init__(self, settings: Settings, *, device: str, stop_event: threading.Event,
                 run_trial: TrialRunner | None = None) -> None:
        self.settings = settings
        self._run_trial_fn = run_trial
        self.device = device
        self.stop_event = stop_event
        opened = open_backend(settings)
        self.storage, self.engine = opened.storage, opened.engine
        self.artifacts = open_artifact_store(settings)
        self.models = model_keeper(settings, self.artifacts)
        self.host = socket.gethostname()
        self.worker_id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        # (study, Optuna trial id, trial number) being trained; ids None for a λ path
        self._current: tuple[StudyRecord, int | None, int | None] | None = None
        self._beat_stop = threading.Event()
        self._beat_thread = threading.Thread(target=self._beat_loop, daemon=True)
        self.trials_run = 0
        self.patience = Patience(transient=is_connection_error,
                                 wait_s=float(settings.grace_period_s),
                                 on_recovered=self.beat_now)

    # -- heartbeats -----------------------------------------------------------------
    def _beat(self) -> None:
        current = self._current
        if current is not None and current[1] is not None:
            self.storage.record_heartbeat(current[1])
        record_worker_heartbeat(
            self.engine, self.worker_id, host=self.host, device=self.device, pid=os.getpid(),
            study_id=current[0].id if current else None,
            trial_number=current[2] if current else None,
        )

    @contextlib.contextmanager
    def working_on(self, record: StudyRecord, trial_id: int | None = None,
                   number: int | None = None) -> Iterator[None]:
        """While inside, the heartbeats name this study (and trial): the first beat at
        once, so a pool that sees this process die fails what it trained."""
        self._current = (record, trial_id, number)
        self.beat_now()
        try:
            yield
        finally:
            self._current = None

    def beat_now(self) -> None:
        """Record both heartbeats at once (a new trial or path starts), so the worker row
        names what this process trains: the pool that started it fails that trial as soon
        as the process dies (``service.worker._reap``)."""
        try:
            self._beat()
        except Exception as e:  # the next interval retries
            _log.warning("heartbeat failed: %s", e)

    def _beat_loop(self) -> None:
        while not self._beat_stop.wait(self.settings.heartbeat_interval_s):
            try:
                self._beat()
            except Exception as e:  # a missed beat is retried next interval
                _log.warning("heartbeat failed: %s", e)

    # -- main loop --------------------------------------------------------------------
    def run(self) -> int:
        """Serve runnable studies until ``stop_event`` is set. Returns the exit code 0."""
        _log.info("worker %s on %s, storage %s", self.worker_id, self.device,
                  self.engine.url.render_as_string(hide_password=True))
        self._beat()
        self._beat_thread.start()
        try:
            while not self.stop_event.is_set():
                if self._orphaned():
                    _log.warning("the process that started this worker is gone; stopping")
                    break
                try:
                    worked = self._step()
                except Exception:  # database down or unreachable: keep the process alive
                    _log.exception("worker step failed; retrying in %.0f s", _ERROR_BACKOFF_S)
                    self.stop_event.wait(_ERROR_BACKOFF_S)
                    continue
                if not worked:
                    self.stop_event.wait(self.settings.worker_poll_s)
        finally:
            self._beat_stop.set()
            self._beat_thread.join(timeout=5)
            try:
                forget_worker(self.engine, self.worker_id)
            except Exception as e:
                _log.warning("could not remove the worker row: %s", e)
        _log.info("worker %s stopped after %d trial(s)", self.worker_id, self.trials_run)
        return 0

    def _orphaned(self) -> bool:
        parent = os.environ.get(PARENT_PID_ENV)
        return parent is not None and os.getppid() != int(parent)

    def _step(self) -> bool:
        """Run one unit of work (a trial or a λ path); False when there was none."""
        for record in runnable_study_records(self.engine):
            if self.stop_event.is_set():
                return True
            if record.kind in PATH_KINDS:
                if run_path(self, record):
                    return True
                continue
            try:
                trial = claim_trial(self.storage, self.engine, record)
            except ShrinkNetsError as e:  # e.g. a stored spec this version cannot load
                _log.error("study %s cannot run: %s", record.study_name, e)
                set_study_status(self.storage, self.engine, record.id, "finished",
                                 error=f"cannot run this study: {e}")
                continue
            if trial is None:
                continue
            self._run_trial(record, trial)
            return True
        return False

    def study_status(self, record: StudyRecord) -> str | None:
        """The study's current status (None when it was deleted).

        Raises:
            sqlalchemy.exc.OperationalError: and other driver errors, database down.
        """
        return study_status(self.engine, record.id)

    def epoch_check(self, record: StudyRecord) -> Callable[[Any], None]:
        """The ``on_epoch`` callback: raise ``StopTraining`` on SIGTERM or cancellation
        (while the database is unreachable, training goes on: a cancellation is seen at
        the first epoch after it is back)."""
        from shrinknets_core.errors import StopTraining

        def on_epoch(_epoch: Any) -> None:
            if self.stop_event.is_set():
                raise StopTraining(REASON_STOPPED)
            try:
                status = self.study_status(record)
            except Exception as e:
                if not is_connection_error(e):
                    raise
                return
            if status in (None, "cancelled"):
                raise StopTraining(REASON_CANCELLED)

        return on_epoch

    def _mirror_cancel(self, record: StudyRecord) -> None:
        """Copy ``cancelled`` into the Optuna study's ``status`` attr (for ``optuna studies``)."""
        with contextlib.suppress(NotFoundError):  # deleted rather than cancelled
            set_study_status(self.storage, self.engine, record.id, "cancelled")

    def _prune_models(self, record: StudyRecord, study: optuna.Study) -> None:
        """``keep_models=pareto``: drop the networks the new trial dominates (one worker
        at a time per study; a failure only leaves files that a later trial removes)."""
        if self.settings.keep_models != "pareto":
            return
        try:
            with db_lock(self.engine, key=study_id_of(study)):  # the study's claim lock
                self.models.prune(study)
        except Exception as e:
            _log.warning("study %s: dominated networks not removed: %s", record.study_name, e)

    def _run_trial(self, record: StudyRecord, trial: optuna.Trial) -> None:
        with self.working_on(record, trial_id_of(trial), trial.number):
            self._train_trial(record, trial)
        self.trials_run += 1

    def _train_trial(self, record: StudyRecord, trial: optuna.Trial) -> None:
        from studies import TrialStopped  # torch-free

        run_trial = self._run_trial_fn
        if run_trial is None:
            from studies.execute import run_trial as default  # loads torch

            run_trial = self._run_trial_fn = default
        started = time.monotonic()
        _log.info("study %s trial %d: start", record.study_name, trial.number)
        try:
            values = run_trial(trial.study, trial, record.study_spec, device=self.device,
                               on_epoch=self.epoch_check(record), models=self.models,
                               patience=self.patience, checkpoints=self.artifacts)
            told = self.patience.call(finish_trial, self.storage, self.engine, record, trial,
                                      values=values)
            if told:
                self._prune_models(record, trial.study)
            _log.info("study %s trial %d: %s in %.1f s", record.study_name, trial.number,
                      "complete" if told else "dropped (failed by heartbeat meanwhile)",
                      time.monotonic() - started)
        except TrialStopped:
            reason = REASON_STOPPED if self.stop_event.is_set() else REASON_CANCELLED
            self.patience.call(fail_trial, self.storage, self.engine, record, trial,
                               reason=reason, retry=reason == REASON_STOPPED)
            if reason == REASON_CANCELLED:
                self._mirror_cancel(record)
            _log.info("study %s trial %d: %s", record.study_name, trial.number, reason)
        except optuna.TrialPruned:
            self.patience.call(finish_trial, self.storage, self.engine, record, trial,
                               state=TrialState.PRUNED)
        except Exception as e:
            _log.exception("study %s trial %d failed", record.study_name, trial.number)
            self.patience.call(fail_trial, self.storage, self.engine, record, trial,
                               reason=f"{type(e).__name__}: {e}", retry=False)

