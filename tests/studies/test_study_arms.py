"""Arms of a comparison: their specs, the Hyperband arm's pruning, compute budgets in run_study."""

from __future__ import annotations

import optuna
import pytest
from _study_helpers import tiny_spec
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError
from studies.arms import ARM_COLOURS, ARMS, arm_of, arm_spec, check_arms
from studies.budget import spent
from studies.compare import compare_studies
from studies.execute import make_pruner, run_study
from studies.lambda_path import lambda_grid
from studies.spec import StudySpec, load_spec


def test_arm_specs_change_only_what_the_arm_is() -> None:
    base = tiny_spec("lambda", "arms", objectives=["val_loss", "params"], max_macs=1e9)
    for arm in ARMS:
        one = arm_spec(base, arm)
        assert arm_of(one) == arm
        assert one.training == base.training and one.dataset == base.dataset
        assert one.architecture == base.architecture
        assert one.search.max_macs == base.search.max_macs
    hb = arm_spec(base, "width_hyperband")
    assert (hb.search.kind, hb.search.pruner, hb.search.objectives) == (
        "width", "hyperband", ["val_loss"]
    )
    assert arm_spec(hb, "width").search.pruner == "none"
    assert isinstance(make_pruner(hb), optuna.pruners.HyperbandPruner)
    assert len(set(ARM_COLOURS.values())) == len(ARM_COLOURS)


def test_a_path_arm_without_a_trial_count_gets_grid_points() -> None:
    base = tiny_spec("width", "arms", n_trials=None, max_macs=1e9)
    assert base.search.trial_budget == StudySpec.MAX_TRIALS
    path = arm_spec(base, "lambda_path")
    assert path.search.n_trials == 20 and len(lambda_grid(path)) == 20


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        (["lambda", "nope"], "unknown arm"),
        (["width", "width"], "each arm at most once"),
        (["width"], "at least 2 arms"),
    ],
)
def test_check_arms_names_the_field(arms: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"field arms: .*{message}"):
        check_arms(arms)
    with pytest.raises(ConfigError, match="field arms: unknown arm"):
        arm_spec(tiny_spec("width", "x"), "target_size")


def test_a_budget_is_required() -> None:
    with pytest.raises(ConfigError, match="n_trials: a budget is required"):
        load_spec({"name": "x", "dataset": {"name": "digits"}, "search": {"n_trials": None}})
    with pytest.raises(ConfigError, match=r"max_macs: value 0\.0 is outside"):
        load_spec({"name": "x", "dataset": {"name": "digits"}, "search": {"max_macs": 0}})


def test_hyperband_arm_prunes_and_charges_pruned_trials_their_epochs_only() -> None:
    spec = arm_spec(tiny_spec("width", "hb", n_trials=12, sampler="random"), "width_hyperband")
    spec = spec.model_copy(
        update={"training": spec.training.model_copy(update={"epochs": 6})}
    )
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned, "Hyperband pruned nothing in 12 trials"
    assert len(pruned) + len(complete) == 12
    for t in pruned:
        history = t.user_attrs["history"]
        assert len(history) < 6
        assert t.user_attrs["search_cost_macs"] == sum(h["cost_macs"] for h in history)
    for t in complete:
        assert "params" in t.user_attrs and len(t.values) == 1
    c = compare_studies(study)
    summary = c.arms[0]
    assert summary.arm == "width_hyperband" and summary.n_pruned == len(pruned)
    assert summary.n_complete == len(complete)
    assert len(summary.front) <= len(complete)  # pruned trials are never on a front
    assert summary.total_cost_macs == pytest.approx(spent(study.trials).macs)


def test_run_study_stops_at_the_compute_budget() -> None:
    spec = tiny_spec("width", "budget", n_trials=None, sampler="random", max_macs=1.5e8)
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(trials) >= 2
    used_before_last = spent(trials[:-1]).macs
    assert used_before_last < 1.5e8 <= spent(trials).macs  # the last trial crossed it
    # resuming a spent study starts nothing
    again = run_study(spec, study._storage, study_name=study.study_name, progress=False)
    assert len(again.trials) == len(trials)


def test_lambda_path_ends_when_its_budget_is_spent() -> None:
    spec = tiny_spec("lambda_path", "path-budget", n_trials=8, max_macs=3.0e7)
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    steps = study.get_trials(states=(TrialState.COMPLETE,))
    assert 1 <= len(steps) < 8
    before_last = sum(t.user_attrs["search_cost_macs"] for t in steps[:-1])
    assert before_last < 3.0e7
