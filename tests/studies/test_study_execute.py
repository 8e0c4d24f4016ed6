"""Every study kind end to end on tiny data, on SQLite and PostgreSQL (``storage_url``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
import torch
from _study_helpers import crash_at, tiny_spec
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError, StopTraining
from shrinknets_core.training.trainer import EpochRecord
from studies import (
    TrialStopped,
    ask_trial,
    create_study,
    open_study,
    run_lambda_path,
    run_study,
    run_trial,
    spec_of,
)
from studies.lambda_path import lambda_grid
from studies.objectives import load_study_data
from studies.spec import load_spec
from studies.target_size import next_lambda

HISTORY_KEYS = {"epoch", "widths", "val_loss", "val_accuracy", "params", "macs_per_sample"}
HISTORY_KEYS |= {"wall_time_s", "cost_macs"}


def _unique(request: pytest.FixtureRequest, kind: str) -> str:
    return f"{kind}-{request.node.name}"[:100].replace("[", "-").replace("]", "")


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.COMPLETE,))


def test_lambda_search(storage_url: str, request: pytest.FixtureRequest) -> None:
    spec = tiny_spec("lambda", _unique(request, "lambda"), n_trials=2)
    study = run_study(spec, storage_url, progress=False)
    assert spec_of(study) == spec
    assert study.user_attrs["kind"] == "lambda" and study.user_attrs["n_trials"] == 2
    assert study.user_attrs["dataset"] == "digits"
    trials = _complete(study)
    assert len(trials) == 2
    for t in trials:
        attrs = t.user_attrs
        assert 1e-3 <= t.params["lam"] <= 0.3 and attrs["lam"] == t.params["lam"]
        assert len(attrs["history"]) == 2 and set(attrs["history"][0]) >= HISTORY_KEYS
        assert attrs["initial_widths"] == [16, 16]
        assert all(0 <= w <= 16 for w in attrs["final_widths"])  # 0: every neuron died
        assert attrs["params"] == attrs["history"][-1]["params"]
        assert attrs["cost_macs"] == sum(h["cost_macs"] for h in attrs["history"]) > 0
        assert "digits" in attrs["dataset"]
        assert t.values == [pytest.approx(attrs["val_loss"])]
        assert sorted(t.intermediate_values) == [1, 2]


def test_width_search_multi_objective(storage_url: str, request: pytest.FixtureRequest) -> None:
    spec = tiny_spec(
        "width",
        _unique(request, "width"),
        n_trials=2,
        objectives=["val_loss", "params"],
        sampler="nsga2",
    )
    study = run_study(spec, storage_url, progress=False)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    trials = _complete(study)
    assert len(trials) == 2
    for t in trials:
        widths = [t.params["width_1"], t.params["width_2"]]
        assert t.user_attrs["final_widths"] == widths  # static net: nothing removed
        assert "lam" not in t.user_attrs
        assert t.values[1] == t.user_attrs["params"]
        w1, w2 = widths
        assert t.user_attrs["params"] == 64 * w1 + w1 + w1 * w2 + w2 + w2 * 10 + 10


_PATH = {"warmup_epochs": 1, "epochs_per_step": 1, "calibrate": False, "finetune_epochs": 0}


def test_lambda_path_warm_starts_and_accumulates_cost(
    storage_url: str, request: pytest.FixtureRequest
) -> None:
    spec = tiny_spec("lambda_path", _unique(request, "path"), lam_max=3.0, path=_PATH)
    study = run_study(spec, storage_url, progress=False)
    steps = sorted(_complete(study), key=lambda t: t.user_attrs["path_step"])
    assert [t.params["lam"] for t in steps] == pytest.approx(lambda_grid(spec))
    assert study.user_attrs["path_grid"] == pytest.approx(lambda_grid(spec))
    assert [t.user_attrs["initial_widths"] for t in steps[1:]] == [
        t.user_attrs["final_widths"] for t in steps[:-1]
    ]
    for before, after in itertools.pairwise(steps):
        assert all(
            a <= b
            for a, b in zip(
                after.user_attrs["final_widths"], before.user_attrs["final_widths"], strict=True
            )
        )
        assert after.user_attrs["cost_macs"] > before.user_attrs["cost_macs"]
    # the warm-up is charged to the first step; the path's total is the search's total
    assert steps[-1].user_attrs["cost_macs"] == pytest.approx(
        sum(t.user_attrs["search_cost_macs"] for t in steps)
    )
    assert steps[0].user_attrs["search_cost_macs"] > steps[1].user_attrs["search_cost_macs"]
    # one warm-up epoch, then one epoch per step, numbered along the path
    assert [[h["epoch"] for h in t.user_attrs["history"]] for t in steps] == [[2], [3], [4]]
    assert steps[-1].user_attrs["final_widths"] != [16, 16]  # λ = 3 must shrink the net


def test_lambda_path_fractional_steps_and_calibrated_grid(request: pytest.FixtureRequest) -> None:
    path = {"warmup_epochs": 0.5, "epochs_per_step": 0.25, "finetune_epochs": 1}
    spec = tiny_spec(
        "lambda_path", _unique(request, "frac"), n_trials=4, path=path,
        training_overrides={"lam_scale": "none"},
    )
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    steps = sorted(_complete(study), key=lambda t: t.user_attrs["path_step"])
    grid = study.user_attrs["path_grid"]
    n_train = len(load_study_data(spec).x_train)
    batches = -(-n_train // spec.training.batch_size)
    # bottom = lam_ratio × λ_max; top ≥ λ_max and ≥ the λ that zeroes |β| ≤ 1 in one step
    assert grid[-1] / grid[0] >= 1 / spec.search.path.lam_ratio * (1 - 1e-9)
    assert grid[-1] >= 1 / (spec.training.beta_lr * round(0.25 * batches)) * (1 - 1e-9)
    for t in steps:
        phase, tune = t.user_attrs["history"]  # a quarter epoch at λ, then one at λ = 0
        assert phase["samples"] <= round(0.25 * batches) * spec.training.batch_size
        assert phase["lam"] == pytest.approx(t.params["lam"]) and tune["lam"] == 0.0
        assert tune["samples"] == n_train


def test_lambda_path_restarts_without_a_checkpoint(
    storage_url: str, request: pytest.FixtureRequest
) -> None:
    spec = tiny_spec("lambda_path", _unique(request, "resume"), path=_PATH)
    study = create_study(spec, storage_url)
    crash_in_second_step = crash_at(3)  # warm-up, step 0, then step 1

    with pytest.raises(TrialStopped, match="step 1"):
        run_lambda_path(study, spec, on_epoch=crash_in_second_step)
    assert [t.user_attrs["path_step"] for t in _complete(study)] == [0]
    # the stopped step's epoch is charged to the search as a FAIL trial without a step
    (stopped,) = study.get_trials(states=(TrialState.FAIL,))
    assert stopped.user_attrs["path_interrupted"] and "path_step" not in stopped.user_attrs
    assert stopped.user_attrs["search_cost_macs"] > 0
    run_lambda_path(study, spec)
    steps = sorted(_complete(study), key=lambda t: t.user_attrs["path_step"])
    assert [t.user_attrs["path_step"] for t in steps] == [0, 1, 2]
    assert [t.user_attrs["path_segment"] for t in steps] == [0, 1, 1]
    assert study.user_attrs["path_end"] == "end of the grid"
    run_lambda_path(study, spec)  # nothing missing: no new trials
    assert len(study.trials) == 4


def test_lambda_path_resumes_from_its_checkpoint_exactly(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A path stopped in step 2 and run again from its artifact checkpoint trains step 2
    exactly as the uninterrupted path did."""
    spec = tiny_spec("lambda_path", _unique(request, "ckpt"), n_trials=4, path=_PATH)
    whole = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = create_study(spec, optuna.storages.InMemoryStorage())
    crash_in_step_two = crash_at(4)  # warm-up, steps 0 and 1, then step 2

    with pytest.raises(TrialStopped, match="step 2"):
        run_lambda_path(study, spec, on_epoch=crash_in_step_two, checkpoints=store)
    assert study.user_attrs["path_checkpoint"]["next_step"] == 2
    assert len(list(tmp_path.iterdir())) == 1  # only the latest checkpoint is kept
    run_lambda_path(study, spec, checkpoints=store)
    # every MAC once: the stored steps plus the stopped epoch of step 2
    ours_total = sum(t.user_attrs["search_cost_macs"] for t in study.trials)
    theirs_total = sum(t.user_attrs["search_cost_macs"] for t in whole.trials)
    assert ours_total > theirs_total
    ours = sorted(_complete(study), key=lambda t: t.user_attrs["path_step"])
    theirs = sorted(_complete(whole), key=lambda t: t.user_attrs["path_step"])
    assert [t.user_attrs["path_segment"] for t in ours] == [0, 0, 0, 0]
    for a, b in zip(ours, theirs, strict=True):
        assert a.user_attrs["final_widths"] == b.user_attrs["final_widths"]
        assert a.values == pytest.approx(b.values, rel=1e-5)
        assert a.user_attrs["cost_macs"] == b.user_attrs["cost_macs"]


def test_target_size_bisects_log_lambda(storage_url: str, request: pytest.FixtureRequest) -> None:
    spec = tiny_spec("target_size", _unique(request, "target"), target_params=600, lam_max=3.0)
    study = run_study(spec, storage_url, progress=False)
    trials = sorted(_complete(study), key=lambda t: t.number)
    assert len(trials) == 3
    for i, t in enumerate(trials):
        expected = next_lambda(trials[:i], lam_min=1e-3, lam_max=3.0, target_params=600)
        assert t.params["lam"] == pytest.approx(expected)
        assert t.user_attrs["meets_target"] == (t.user_attrs["params"] <= 600)
    assert trials[0].params["lam"] == pytest.approx((1e-3 * 3.0) ** 0.5)


def test_cancel_raises_trial_stopped_and_keeps_history(
    storage_url: str, request: pytest.FixtureRequest
) -> None:
    spec = tiny_spec("lambda", _unique(request, "cancel"))
    study = create_study(spec, storage_url)
    trial = ask_trial(study, spec)

    def cancel(record: EpochRecord) -> None:
        raise StopTraining("cancelled by user")

    with pytest.raises(TrialStopped, match="after 1 epoch"):
        run_trial(study, trial, spec, on_epoch=cancel)
    study.tell(trial, state=TrialState.FAIL)
    stored = study.trials[0]
    assert len(stored.user_attrs["history"]) == 1


def test_median_pruner_and_reopen(tmp_path: object, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    spec = tiny_spec("width", "pruned", n_trials=4, pruner="median")
    run_study(spec, url, progress=False)
    study = open_study("pruned", url)
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    states = {t.state for t in study.trials}
    assert states <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)


def test_resume_checks_spec_and_lambda_path_has_no_ask(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    spec = tiny_spec("lambda", "again", n_trials=1)
    run_study(spec, url, progress=False)
    assert len(run_study(spec, url, progress=False).trials) == 1  # budget already spent
    with pytest.raises(ConfigError, match="different spec"):
        run_study(tiny_spec("lambda", "again", n_trials=2, lam_max=1.0), url, progress=False)
    path = tiny_spec("lambda_path", "path")
    with pytest.raises(ConfigError, match="run_lambda_path"):
        ask_trial(create_study(path, url), path)


def test_finetune_phase_gives_equal_epochs(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/f.db"
    for kind in ("lambda", "width"):
        spec = load_spec(
            {
                **tiny_spec(kind, f"ft-{kind}", n_trials=1).model_dump(),
                "training": {**tiny_spec(kind, "x").training.model_dump(), "finetune_epochs": 1},
            }
        )
        trial = run_study(spec, url, progress=False).trials[0]
        history = trial.user_attrs["history"]
        assert [h["epoch"] for h in history] == [1, 2, 3]
        if kind == "lambda":
            assert [h["lam"] for h in history[2:]] == [0.0]
            assert history[0]["lam"] == trial.params["lam"]
            assert trial.user_attrs["cost_macs"] == sum(h["cost_macs"] for h in history)


def test_lambda_path_continues_one_optimizer(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The weight optimizer is never rebuilt along the path: after the warm-up and three
    one-epoch steps its Adam step count is every batch of them (the snapshots' fine-tunes
    run on copies and do not count)."""
    spec = tiny_spec("lambda_path", _unique(request, "adam"),
                     path={**_PATH, "finetune_epochs": 1})
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = create_study(spec, optuna.storages.InMemoryStorage())
    run_lambda_path(study, spec, checkpoints=store)
    meta = study.user_attrs["path_checkpoint"]
    optuna.artifacts.download_artifact(
        artifact_store=store, file_path=str(tmp_path / "ckpt.pt"), artifact_id=meta["artifact_id"]
    )
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    batches = -(-len(load_study_data(spec).x_train) // spec.training.batch_size)
    steps = {int(s["step"]) for s in saved["trainer"]["optimizer"]["state"].values()}
    assert steps == {batches * (1 + 3)}  # warm-up + 3 steps, one epoch each
    assert saved["path"]["next_step"] == 3
