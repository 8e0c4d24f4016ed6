"""Worker processes on real databases: exact budget, kill -9, SIGTERM, cancel, λ path.

Every test starts real ``python -m service.worker`` subprocesses (heartbeat 1 s, grace
3 s) on a fresh SQLite file or a fresh PostgreSQL database, and trains tiny ShrinkNets
on the bundled digits data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from _pg import POSTGRES_SLOW
from _procs import (
    ProcGroup,
    procs,
    service_env,
    wait_until,
)
from optuna.trial import TrialState

from service.scheduler import create_study_record
from service.storage import (
    StudyRecord,
    cancel_study,
    get_study_record,
    init_schema,
    live_workers,
    make_engine,
    open_storage,
    study_progress,
)
from studies.budget import spent

__all__ = ["procs"]  # the fixture, re-exported for pytest


def spec(name: str, *, n_trials: int, epochs: int, batch_size: int = 128,
         kind: str = "lambda", **search: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"name": "digits"},
        "architecture": {"depth": 2, "max_width": 12},
        "training": {"epochs": epochs, "batch_size": batch_size},
        # independent λ trials: several run at once (the warm start has its own tests)
        "search": {"kind": kind, "n_trials": n_trials, "sampler": "random",
                   "warm_start": False, **search},
    }


class Db:
    def __init__(self, url: str) -> None:
        self.url = url
        self.storage = open_storage(url, heartbeat_interval=1, grace_period=3)
        self.engine = make_engine(url)
        init_schema(self.engine)

    def create(self, name: str, **kw: Any) -> StudyRecord:
        return create_study_record(self.storage, self.engine, spec(name, **kw))

    def trials(self, record: StudyRecord) -> list[optuna.trial.FrozenTrial]:
        study_id = self.storage.get_study_id_from_name(record.study_name)
        return self.storage.get_all_trials(study_id)

    def status(self, record: StudyRecord) -> str:
        return get_study_record(self.engine, record.id).status

    def training(self, record: StudyRecord) -> list[optuna.trial.FrozenTrial]:
        """RUNNING trials that finished at least one epoch."""
        return [t for t in self.trials(record)
                if t.state == TrialState.RUNNING and t.user_attrs.get("history")]


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_two_workers_finish_exactly_the_budget(db_url: str, procs: ProcGroup,
                                               tmp_path: Path) -> None:
    """``worker --concurrency 2`` runs two supervised worker processes; four studies
    (a λ path, owned by one process, and a prune path with a compute budget, which it
    spends refining past its steps) end with exactly their budgets."""
    db = Db(db_url)
    a = db.create("budget a", n_trials=4, epochs=2)
    b = db.create("budget b", n_trials=3, epochs=1)
    path = db.create("path", n_trials=3, epochs=1, kind="lambda_path")
    budget = 2e7  # ≈ 6 full-width epochs of the 64→12→12→10 net on digits
    prune = db.create("prune", n_trials=3, epochs=1, kind="prune_path", max_macs=budget,
                      path={"warmup_epochs": 1, "finetune_epochs": 1, "refine_epochs": 1})
    pool = procs.worker(db_url, env=service_env(db_url, tmp_path), device="cuda:7",
                        concurrency=2)
    wait_until(lambda: {db.status(r) for r in (a, b, path, prune)} == {"finished"}, timeout=120,
               message="every study finished", procs=[pool])
    for record, n in ((a, 4), (b, 3)):
        progress = study_progress(db.storage, record)
        assert (progress.complete, progress.running, progress.waiting) == (n, 0, 0)
        assert len(db.trials(record)) == n + progress.failed
        assert all(len(t.user_attrs["history"]) == record.spec["training"]["epochs"]
                   for t in db.trials(record) if t.state == TrialState.COMPLETE)
    steps = db.trials(path)
    assert [t.state for t in steps] == [TrialState.COMPLETE] * 3
    assert sorted(t.user_attrs["path_step"] for t in steps) == [0, 1, 2]
    assert get_study_record(db.engine, path.id).error is None
    # the path's latest checkpoint is an artifact under the data dir (resume after a crash)
    study = optuna.load_study(study_name=path.study_name, storage=db.storage)
    checkpoint = study.user_attrs["path_checkpoint"]
    assert checkpoint["next_step"] == 3
    assert (tmp_path / "data" / "artifacts" / checkpoint["artifact_id"]).is_file()
    trials = sorted(db.trials(prune), key=lambda t: t.number)
    steps = [(t.user_attrs.get("path_pass", 0), t.user_attrs["path_step"])
             for t in trials if "path_step" in t.user_attrs]
    assert len(steps) == len(set(steps)) and {(0, 0), (0, 1), (0, 2)} <= set(steps)
    assert any("path_snapshot" in t.user_attrs for t in trials)  # it refined its front
    assert all("target_params" in t.params for t in trials if t.state == TrialState.COMPLETE)
    ended = optuna.load_study(study_name=prune.study_name, storage=db.storage).user_attrs
    if ended["path_end"] == "compute budget spent":  # no step started once it was spent
        assert spent(trials[:-1]).macs < budget <= spent(trials).macs
    else:
        assert ended["path_end"].startswith("refined") and spent(trials).macs < budget
    log = pool.log(1_000_000)
    assert len(live_workers(db.engine, within_s=30)) == 2, log
    assert log.count("falling back to cpu") == 2, log
    assert "database is locked" not in log and "Traceback" not in log, log
    assert pool.terminate() == 0
    assert live_workers(db.engine, within_s=30) == []


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_killed_worker_trial_is_failed_by_heartbeat_and_retried(
    db_url: str, procs: ProcGroup, tmp_path: Path
) -> None:
    db = Db(db_url)
    record = db.create("kill9", n_trials=2, epochs=12, batch_size=32)
    env = service_env(db_url, tmp_path)
    workers = [procs.worker(db_url, env=env), procs.worker(db_url, env=env)]

    def victim_trial() -> tuple[Any, optuna.trial.FrozenTrial] | None:
        by_pid = {w.pid: w.trial_number for w in live_workers(db.engine, within_s=30)}
        for worker in workers:
            for trial in db.training(record):
                if by_pid.get(worker.pid) == trial.number:
                    return worker, trial
        return None

    victim, killed = wait_until(victim_trial, timeout=60, message="a trial in training",  # type: ignore[misc]
                                procs=workers)
    victim.kill9()
    survivor = next(w for w in workers if w is not victim)
    wait_until(lambda: db.status(record) == "finished", timeout=120,
               message="the study to finish after the kill", procs=[survivor])
    trials = db.trials(record)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert [t.number for t in failed] == [killed.number]
    assert failed[0].user_attrs["failure_reason"].startswith("heartbeat lost")
    assert len(complete) == 2 and len(trials) == 3
    retry = next(t for t in complete if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.params == killed.params, "the retry re-runs the killed trial's λ"
    assert survivor.terminate() == 0


def test_cancel_then_sigterm(procs: ProcGroup, tmp_path: Path) -> None:
    """Cancel stops the running trial at its next epoch and starts no other; SIGTERM marks
    the current trial failed with a retry enqueued, and the worker exits 0."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    db = Db(url)
    long = dict(n_trials=3, epochs=500, batch_size=16)
    first = db.create("cancel me", **long)
    worker = procs.worker(url, env=service_env(url, tmp_path))
    wait_until(lambda: db.training(first), timeout=60, message="training", procs=[worker])
    cancel_study(db.engine, first.id)
    wait_until(lambda: not db.training(first) and study_progress(db.storage, first).running == 0,
               timeout=30, message="the cancelled trial to stop", procs=[worker])
    trials = db.trials(first)
    assert [(t.state, t.user_attrs.get("failure_reason")) for t in trials] == [
        (TrialState.FAIL, "cancelled")]
    assert 0 < len(trials[0].user_attrs["history"]) < 500
    assert db.status(first) == "cancelled"
    study = optuna.load_study(study_name=first.study_name, storage=db.storage)
    assert study.user_attrs["status"] == "cancelled", "optuna studies shows the cancel"

    second = db.create("stop me", **long)
    wait_until(lambda: db.training(second), timeout=60, message="training", procs=[worker])
    assert len(db.trials(first)) == 1, "no new trial of the cancelled study"
    assert worker.terminate(timeout=30) == 0
    progress = study_progress(db.storage, second)
    assert (progress.failed, progress.waiting, progress.running) == (1, 1, 0)
    stopped = next(t for t in db.trials(second) if t.state == TrialState.FAIL)
    assert stopped.user_attrs["failure_reason"] == "worker stopped"
    assert live_workers(db.engine, within_s=60) == []


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_a_dead_pool_child_is_noticed_at_once(db_url: str, procs: ProcGroup,
                                             tmp_path: Path) -> None:
    """``kill -9`` of a worker started by a pool (``worker --concurrency 2``, as ``serve``
    starts them): its trial is failed and requeued within 5 s, not after the 60 s grace."""
    import os
    import signal
    import time

    db = Db(db_url)
    record = db.create("pool-kill9", n_trials=2, epochs=200, batch_size=16)
    env = service_env(db_url, tmp_path, heartbeat_interval_s=5, grace_period_s=60)
    procs.worker(db_url, env=env, concurrency=2)

    def victim() -> tuple[int, optuna.trial.FrozenTrial] | None:
        running = {t.number: t for t in db.trials(record) if t.state == TrialState.RUNNING}
        for w in live_workers(db.engine, within_s=60):
            if w.study_id == record.id and w.trial_number in running and w.pid is not None:
                return w.pid, running[w.trial_number]
        return None

    pid, trial = wait_until(victim, timeout=60, message="a pool child training")  # type: ignore[misc]
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    def failed_and_requeued() -> tuple[Any, list[Any]] | None:
        # the pool fails the trial, then enqueues its retry (one lock, two writes)
        trials = db.trials(record)
        now = next(t for t in trials if t.number == trial.number)
        retried = [t for t in trials if t.system_attrs.get("failed_trial") == trial.number]
        return (now, retried) if now.state == TrialState.FAIL and retried else None

    dead, retried = wait_until(failed_and_requeued, timeout=5, interval=0.1,  # type: ignore[misc]
                               message="the killed trial to be failed and requeued")
    assert time.monotonic() - killed_at <= 5
    assert dead.user_attrs["failure_reason"] == "worker process died (exit code -9)"
    assert len(retried) == 1 and retried[0].params == trial.params
    assert all(w.pid != pid for w in live_workers(db.engine, within_s=60))


def test_pool_children_get_the_storage_url_from_the_environment_not_argv(
    tmp_path: Path,
) -> None:
    """``ps`` shows a child's argv: the URL (with a password under compose) stays out."""
    from service.settings import Settings
    from service.worker import WorkerPool, worker_command

    url = "postgresql://snk:s3cret@db:5432/shrinknets"
    settings = Settings(data_dir=tmp_path, storage_url=url, log_level="warning")
    pool = WorkerPool(settings, ["cpu"], env={"PATH": "/usr/bin"})
    command = worker_command(device="cpu")
    assert not any("s3cret" in part for part in command)
    env = pool.child_env()
    assert env["SHRINKNETS_STORAGE_URL"] == settings.storage_url
    assert env["SHRINKNETS_STORAGE_URL"].startswith("postgresql+psycopg://snk:s3cret@db")
    assert (env["SHRINKNETS_LOG_LEVEL"], env["PATH"]) == ("warning", "/usr/bin")
