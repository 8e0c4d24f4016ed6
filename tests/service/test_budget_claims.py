"""Compute budgets in the service: claims stop at ``search.max_macs``, exactly, across workers.

* In process, with trials whose cost is written by hand: a claim counts RUNNING trials'
  epochs so far, starts nothing (not even a WAITING retry) once the budget is spent, and the
  study finishes when its last running trial ends, failing the retries left.
* With two real ``python -m service.worker`` processes on SQLite and on PostgreSQL: no
  trial starts after the budget was spent, the overshoot is bounded by the trials that
  were running when it ran out, and ``n_trials: null`` works (with MO-ASHA's pruning).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
from _api_helpers import app_for, run_trials, tiny_spec
from _pg import POSTGRES_SLOW
from _procs import ProcGroup, procs, service_env, wait_until
from fastapi import FastAPI
from fastapi.testclient import TestClient
from optuna.trial import FrozenTrial, TrialState

from service.scheduler import (
    claim_trial,
    create_study_record,
    fail_trial,
    finish_trial,
    reap_stale_trials,
)
from service.storage import (
    Progress,
    StudyRecord,
    get_study_record,
    init_schema,
    make_engine,
    open_storage,
    studies_progress,
    study_progress,
)
from shrinknets_core.network.models import ModelSpec, build_model
from studies.budget import trial_cost
from studies.objectives import load_study_data
from studies.spec import StudySpec, load_spec

__all__ = ["procs"]  # the fixture, re-exported for pytest

API = "/api/v1"


def _spec(name: str, **search: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"name": "digits", "max_rows": 400},
        "architecture": {"depth": 2, "max_width": 8},
        "training": {"epochs": 2, "batch_size": 64, "device": "cpu"},
        "search": {"kind": "width", "sampler": "random", **search},
    }


class Db:
    def __init__(self, url: str, *, grace_period: int = 3) -> None:
        self.storage = open_storage(url, heartbeat_interval=1, grace_period=grace_period)
        self.engine = make_engine(url)
        init_schema(self.engine)

    def create(self, spec: dict[str, Any]) -> StudyRecord:
        return create_study_record(self.storage, self.engine, spec)

    def record(self, record: StudyRecord) -> StudyRecord:
        return get_study_record(self.engine, record.id)

    def trials(self, record: StudyRecord) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.storage.get_study_id_from_name(record.study_name))


def _report(trial: optuna.Trial, *macs: float) -> None:
    """Make a claimed trial report epochs costing ``macs`` (as ``run_trial`` does)."""
    trial.set_user_attr("history", [{"epoch": i + 1, "cost_macs": m, "wall_time_s": 0.1}
                                    for i, m in enumerate(macs)])


def _finish(db: Db, record: StudyRecord, trial: optuna.Trial, macs: float) -> None:
    trial.set_user_attr("search_cost_macs", macs)
    trial.set_user_attr("search_wall_time_s", 0.2)
    assert finish_trial(db.storage, db.engine, record, trial, values=[1.0])


def test_claims_stop_at_the_compute_budget_and_drop_retries(storage_url: str) -> None:
    db = Db(storage_url)
    record = db.create(_spec("claims", n_trials=50, max_macs=1000))
    assert record.n_trials == 50
    first = claim_trial(db.storage, db.engine, record)
    second = claim_trial(db.storage, db.engine, record)
    assert first is not None and second is not None
    _report(first, 300, 300)
    third = claim_trial(db.storage, db.engine, record)  # 600 spent so far: budget left
    assert third is not None
    _report(second, 250, 250)  # 1100: spent by running trials alone
    assert claim_trial(db.storage, db.engine, record) is None
    _report(third, 50)
    fail_trial(db.storage, db.engine, record, third, reason="worker stopped", retry=True)
    progress = study_progress(db.storage, record)
    assert (progress.running, progress.waiting, progress.failed) == (2, 1, 1)
    assert claim_trial(db.storage, db.engine, record) is None, "no retry once spent"
    _finish(db, record, first, 600)
    assert db.record(record).status == "running", "a trial is still running"
    _finish(db, record, second, 500)
    done = db.record(record)
    assert done.status == "finished" and done.error is None
    states = {t.number: t for t in db.trials(record)}
    dropped = [t for t in states.values() if t.state == TrialState.FAIL
               and t.datetime_start is None]
    assert len(dropped) == 1
    assert dropped[0].user_attrs["failure_reason"].startswith(
        "not retried: compute budget spent"), dropped[0].user_attrs
    assert set(dropped[0].user_attrs) == {"failure_reason"}, "the retry inherits no cost"
    assert dropped[0].params == states[third.number].params
    progress = study_progress(db.storage, record)
    assert (progress.complete, progress.running, progress.waiting, progress.failed) == (
        2, 0, 0, 2)
    assert (progress.spent_macs, progress.max_macs, progress.overshoot_macs) == (
        1150, 1000, 150)
    assert progress.fraction == 1.0
    assert studies_progress(db.storage, [record])[record.id] == progress
    assert Progress.of_trials(db.trials(record), record.n_trials, spec=record.spec) == progress


def test_stale_trial_of_a_spent_budget_is_not_retried(storage_url: str) -> None:
    """A worker killed after the budget ran out: its trial is failed by the heartbeat, its
    retry is not run (it would cost a whole trial more) and the study ends: failed, since
    no trial completed, with the lost heartbeat as its reason."""
    db = Db(storage_url, grace_period=1)
    record = db.create(_spec("stale", n_trials=None, max_seconds=10, max_macs=500))
    assert record.n_trials == StudySpec.MAX_TRIALS  # no trial cap given
    trial = claim_trial(db.storage, db.engine, record)
    assert trial is not None
    _report(trial, 400, 400)  # then the worker dies: no more heartbeats
    assert claim_trial(db.storage, db.engine, record) is None
    time.sleep(2.5)
    reap_stale_trials(db.storage, db.engine, record)
    ended = db.record(record)
    assert ended.status == "failed"
    assert ended.error is not None and ended.error.startswith("no trial completed")
    trials = db.trials(record)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert trials[1].user_attrs["failure_reason"].startswith("not retried")
    progress = study_progress(db.storage, record)
    assert (progress.spent_macs, progress.overshoot_macs, progress.max_seconds) == (
        800, 300, 10)


def test_progress_of_a_study_without_compute_budget_has_no_spending(storage_url: str) -> None:
    db = Db(storage_url)
    record = db.create(_spec("plain", n_trials=3))
    trial = claim_trial(db.storage, db.engine, record)
    assert trial is not None
    _report(trial, 100)
    progress = study_progress(db.storage, record)
    assert progress.spent_macs is None and progress.overshoot_macs is None
    assert progress.to_dict()["max_macs"] is None and progress.fraction == 0


# -- API ------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path, max_trials=10)) as c:
        yield c


@pytest.mark.parametrize("kind", ["lambda", "width"])
def test_api_max_macs_must_pay_for_one_trial(client: TestClient, kind: str) -> None:
    """The least ``search.max_macs`` the 422 names is accepted, and a trial costs at least it."""
    spec = tiny_spec(**{"search.kind": kind, "search.n_trials": None, "search.max_macs": 1.0,
                        "search.objectives": ["val_loss"]})
    response = client.post(f"{API}/studies", json=spec)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "search.max_macs" and "search.max_macs" in error["message"]
    least = float(error["allowed"].removeprefix(">= "))
    assert least > 1.0
    spec["search"]["max_macs"] = least
    response = client.post(f"{API}/studies", json=spec)
    assert response.status_code == 201, response.text
    study_id = response.json()["id"]
    detail = client.get(f"{API}/studies/{study_id}").json()
    assert detail["n_trials"] == 10, "no n_trials: the server's max_trials caps the trials"
    assert detail["spec"]["search"]["n_trials"] is None, "the spec is stored as posted"
    assert detail["progress"]["max_macs"] == least and detail["progress"]["spent_macs"] == 0
    app = client.app
    assert isinstance(app, FastAPI)
    run_trials(app, study_id, 1)
    detail = client.get(f"{API}/studies/{study_id}").json()
    (trial,) = client.get(f"{API}/studies/{study_id}/trials").json()["items"]
    assert trial["attrs"]["search_cost_macs"] >= least, "min_trial_macs is a lower bound"
    progress = detail["progress"]
    assert progress["spent_macs"] == trial["attrs"]["search_cost_macs"]
    assert progress["overshoot_macs"] == progress["spent_macs"] - least
    assert progress["fraction"] == 1.0
    assert detail["status"] == "finished", "one trial spent the whole budget"


# -- real workers ---------------------------------------------------------------------


def _widest_trial_macs(spec: dict[str, Any]) -> float:
    """Training MACs of the costliest trial of the spec (every layer at max_width)."""
    parsed = load_spec(spec)
    data = load_study_data(parsed)
    arch = parsed.architecture
    net = build_model(ModelSpec(kind="mlp", in_features=data.n_features,
                                out_features=data.n_outputs,
                                hidden=(arch.max_width,) * arch.depth))
    return 3.0 * net.macs_per_sample() * len(data.x_train) * parsed.training.epochs


def _check_exact(db: Db, record: StudyRecord, max_macs: float) -> int:
    """Assert the budget rule on a finished study; returns the number of trials run."""
    trials = db.trials(record)
    started = sorted((t for t in trials if t.datetime_start is not None),
                     key=lambda t: t.datetime_start or datetime.min)
    never = [t for t in trials if t.datetime_start is None]
    assert all(t.user_attrs["failure_reason"].startswith("not retried") for t in never)
    cost = {t.number: trial_cost(t)[0] for t in started}
    assert all(t.state.is_finished() for t in started)
    for t in started:  # no trial started once the trials told before it had spent it all
        before = sum(cost[o.number] for o in started
                     if o.datetime_complete is not None and o.datetime_start is not None
                     and t.datetime_start is not None and o.datetime_complete < t.datetime_start)
        assert before < max_macs, (t.number, before, max_macs)
    total = sum(cost.values())
    assert total >= max_macs, "the study ended by its compute budget"
    # the moment the told trials had spent the budget, and who was running then
    running_total = 0.0
    spent_at = None
    for t in sorted(started, key=lambda t: t.datetime_complete or datetime.max):
        running_total += cost[t.number]
        if running_total >= max_macs:
            spent_at = t.datetime_complete
            break
    assert spent_at is not None
    running = [t for t in started if t.datetime_start is not None
               and t.datetime_complete is not None
               and t.datetime_start <= spent_at <= t.datetime_complete]
    assert len(running) <= 2, "two workers: at most two trials at a time"
    overshoot = total - max_macs
    assert overshoot <= sum(cost[t.number] for t in running)
    progress = study_progress(db.storage, record)
    assert progress.spent_macs == pytest.approx(total)
    assert progress.overshoot_macs == pytest.approx(overshoot)
    assert (progress.running, progress.waiting) == (0, 0)
    return len(started)


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_two_workers_stop_exactly_at_the_compute_budget(
    db_url: str, procs: ProcGroup, tmp_path: Path
) -> None:
    """Two worker processes, two studies: ``max_macs`` of about four of the costliest
    trials with ``n_trials`` 60, and ``n_trials: null`` with the same ``max_macs`` — the
    latter the ``width_mo_asha`` arm, whose pruned trials are charged the epochs they
    trained."""
    db = Db(db_url)
    capped = _spec("macs capped", n_trials=60)
    max_macs = 4 * _widest_trial_macs(capped)
    capped["search"]["max_macs"] = max_macs
    uncapped = _spec("macs only", n_trials=None, max_macs=max_macs, pruner="mo_asha",
                     objectives=["val_loss", "params"])
    a, b = db.create(capped), db.create(uncapped)
    assert (a.n_trials, b.n_trials) == (60, StudySpec.MAX_TRIALS)
    env = service_env(db_url, tmp_path)
    workers = [procs.worker(db_url, env=env), procs.worker(db_url, env=env)]
    wait_until(lambda: {db.record(r).status for r in (a, b)} == {"finished"}, timeout=240,
               message="both studies finished", procs=workers)
    for record in (a, b):
        assert db.record(record).error is None
        n = _check_exact(db, record, max_macs)
        assert 4 <= n < 60, n
    for worker in workers:
        log = worker.log(1_000_000)
        assert "Traceback" not in log and "database is locked" not in log, log
        assert worker.terminate() == 0
