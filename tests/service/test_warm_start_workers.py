"""λ search's shared warm start with two real worker processes (SQLite and PostgreSQL):
the warm-up is trained once per study, by one trial, and charged once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _pg import POSTGRES_SLOW
from _procs import ProcGroup, procs, service_env, wait_until
from optuna.trial import TrialState

from service.scheduler import create_study_record
from service.storage import get_study_record, init_schema, make_engine, open_storage
from studies.budget import spent
from studies.spec import WARM_START_ATTR

__all__ = ["procs"]  # the fixture, re-exported for pytest


def _study(db_url: str, *, epochs: int = 2, warmup: int = 2,
           rows: int = 400) -> tuple[Any, Any, Any]:
    storage = open_storage(db_url, heartbeat_interval=1, grace_period=3)
    engine = make_engine(db_url)
    init_schema(engine)
    record = create_study_record(storage, engine, {
        "name": "warm start",
        "dataset": {"name": "digits", "max_rows": rows},
        "architecture": {"depth": 2, "max_width": 8},
        "training": {"epochs": epochs, "batch_size": 64, "device": "cpu"},
        "search": {"kind": "lambda", "n_trials": 6, "sampler": "random",
                   "objectives": ["val_loss", "params"], "lam_min": 1e-3, "lam_max": 0.3,
                   "warm_start": {"enabled": True, "warmup_epochs": warmup, "lam_epochs": 1,
                                  "finetune_epochs": 1}},
    })
    return storage, engine, record


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_two_workers_train_the_warm_up_once(db_url: str, procs: ProcGroup,
                                            tmp_path: Path) -> None:
    storage, engine, record = _study(db_url)
    env = service_env(db_url, tmp_path)
    workers = [procs.worker(db_url, env=env), procs.worker(db_url, env=env)]
    wait_until(lambda: get_study_record(engine, record.id).status == "finished", timeout=240,
               message="the study finished", procs=workers)
    assert get_study_record(engine, record.id).error is None
    study_id = storage.get_study_id_from_name(record.study_name)
    trials = storage.get_all_trials(study_id)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    firsts = sorted(t.user_attrs["history"][0]["epoch"] for t in complete)
    assert firsts == [1, 3, 3, 3, 3, 3], "one trial trained the warm-up (epochs 1-2)"
    owner = next(t for t in complete if t.user_attrs["history"][0]["epoch"] == 1)
    meta = storage.get_study_user_attrs(study_id)[WARM_START_ATTR]
    assert meta["trial"] == owner.number and meta["artifact_id"]
    # every other trial started once the warm-up was trained: none ran beside it
    warm_s = sum(h["wall_time_s"] for h in owner.user_attrs["history"][:2])
    ready = owner.datetime_start + timedelta(seconds=warm_s)  # type: ignore[operator]
    assert all(t.datetime_start >= ready for t in complete if t is not owner)  # type: ignore[operator]
    assert spent(trials).macs == sum(
        sum(h["cost_macs"] for h in t.user_attrs["history"]) for t in trials)
    for worker in workers:
        log = worker.log(1_000_000)
        assert "Traceback" not in log and "database is locked" not in log, log
        assert worker.terminate() == 0


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_kill_9_while_training_the_warm_up(db_url: str, procs: ProcGroup,
                                           tmp_path: Path) -> None:
    """A worker killed while its trial trains the warm-up: the trial is failed by its
    heartbeat, its epochs stay charged, its retry trains the warm-up, and the study
    finishes its budget with the warm-up in exactly one complete trial."""
    storage, engine, record = _study(db_url, warmup=40, rows=1700)
    env = service_env(db_url, tmp_path)
    study_id = storage.get_study_id_from_name(record.study_name)

    def warming() -> bool:
        running = storage.get_all_trials(study_id, states=(TrialState.RUNNING,))
        return any(len(t.user_attrs.get("history") or []) >= 2 for t in running)

    first = procs.worker(db_url, env=env)
    wait_until(warming, timeout=120, message="the first trial trains the warm-up",
               procs=[first])
    assert WARM_START_ATTR not in storage.get_study_user_attrs(study_id)
    first.kill9()
    second = procs.worker(db_url, env=env)
    wait_until(lambda: get_study_record(engine, record.id).status == "finished", timeout=300,
               message="the study finished", procs=[second])
    trials = storage.get_all_trials(study_id)
    killed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(killed) == 1 and "heartbeat" in killed[0].user_attrs["failure_reason"]
    assert len(killed[0].user_attrs["history"]) >= 2  # its epochs are charged
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    owners = [t for t in complete if t.user_attrs["history"][0]["epoch"] == 1]
    assert len(owners) == 1, "the warm-up was trained to the end once"
    meta = storage.get_study_user_attrs(study_id)[WARM_START_ATTR]
    assert meta["trial"] == owners[0].number
    assert spent(trials).macs == sum(
        sum(h["cost_macs"] for h in t.user_attrs["history"]) for t in trials)
    log = second.log(1_000_000)
    assert "Traceback" not in log and "database is locked" not in log, log
    assert second.terminate() == 0
