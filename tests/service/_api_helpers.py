"""Shared pieces of the API tests: a tiny spec, an app on a temporary data dir, and a
function that runs a study's trials in the test process the way a worker does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings

TINY_SPEC: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "digits"},
    "architecture": {"kind": "mlp", "depth": 2, "max_width": 8},
    "training": {"epochs": 2, "batch_size": 64, "device": "cpu"},
    # λ trials independent of each other (the shared warm start, on by default, has its
    # own tests: tests/studies/test_warm_start.py, tests/service/test_warm_start_workers.py)
    "search": {"n_trials": 3, "sampler": "random", "seed": 0,
               "objectives": ["val_loss", "params"], "warm_start": False},
}


def tiny_spec(**changes: Any) -> dict[str, Any]:
    """A copy of :data:`TINY_SPEC`; ``changes`` maps dotted paths to new values."""
    spec = copy.deepcopy(TINY_SPEC)
    for dotted, value in changes.items():
        node = spec
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return spec


def make_settings(tmp_path: Path, storage_url: str | None = None, **overrides: Any) -> Settings:
    """Settings on ``tmp_path`` (SQLite there unless ``storage_url`` is given)."""
    values: dict[str, Any] = {"data_dir": tmp_path / "var", "heartbeat_interval_s": 2,
                              "grace_period_s": 10}
    if storage_url is not None:
        values["storage_url"] = storage_url
    values.update(overrides)
    return Settings(**values)


def app_for(tmp_path: Path, storage_url: str | None = None, **overrides: Any) -> FastAPI:
    """``create_app`` on temporary settings."""
    return create_app(make_settings(tmp_path, storage_url, **overrides))


def run_trials(app: FastAPI, study_id: str, n: int) -> None:
    """Claim, train and finish ``n`` trials of a study in this process (as a worker does:
    a trial the study's pruner stops is told PRUNED)."""
    import optuna
    from optuna.trial import TrialState

    from service.scheduler import claim_trial, finish_trial
    from service.storage import get_study_record
    from studies.execute import run_trial
    from studies.spec import load_spec

    torch.set_num_threads(1)
    backend = app.state.backends.get(app.state.settings)
    for _ in range(n):
        record = get_study_record(backend.engine, study_id)
        trial = claim_trial(backend.storage, backend.engine, record)
        assert trial is not None, f"study {study_id} has no budget left"
        spec = load_spec(record.spec)
        try:
            values = run_trial(trial.study, trial, spec, device="cpu")
        except optuna.TrialPruned:
            assert finish_trial(backend.storage, backend.engine, record, trial,
                                state=TrialState.PRUNED)
            continue
        assert finish_trial(backend.storage, backend.engine, record, trial, values=values)


API = "/api/v1"
PLOT_NAMES = ["size-space", "pareto", "compute", "widths", "lambda"]
THREE_ARMS = ["lambda", "width", "width_hyperband"]


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is the API's error shape with this status, code and field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "field", "allowed"} <= set(error)
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"] and "Traceback" not in error["message"]
    return dict(error)
