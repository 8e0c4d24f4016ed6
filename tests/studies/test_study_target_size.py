"""Bisection on log λ for the target-size kind, on hand-made finished trials."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution

from studies.target_size import TargetSizeSampler, best_within_target, next_lambda


def _probe(lam: float, params: int, loss: float = 1.0) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        value=loss,
        params={"lam": lam},
        distributions={"lam": FloatDistribution(1e-4, 1.0, log=True)},
        user_attrs={"params": params},
    )


def test_first_probe_is_the_geometric_middle() -> None:
    assert next_lambda([], lam_min=1e-4, lam_max=1.0, target_params=100) == pytest.approx(1e-2)


def test_interval_shrinks_towards_the_budget() -> None:
    over, within = _probe(1e-2, 500), _probe(1e-1, 50)
    lam = next_lambda([over, within], lam_min=1e-4, lam_max=1.0, target_params=100)
    assert lam == pytest.approx(math.sqrt(1e-3))
    # only over-budget probes: search above the largest of them
    assert next_lambda([over], lam_min=1e-4, lam_max=1.0, target_params=100) == pytest.approx(
        math.sqrt(1e-2)
    )
    # only within-budget probes: search below the smallest of them
    assert next_lambda([within], lam_min=1e-4, lam_max=1.0, target_params=100) == pytest.approx(
        math.sqrt(1e-5)
    )
    # an over-budget probe above the within-budget one (noise) is ignored
    noisy = [within, _probe(0.5, 500)]
    assert next_lambda(noisy, lam_min=1e-4, lam_max=1.0, target_params=100) == pytest.approx(
        math.sqrt(1e-5)
    )


def test_best_within_target_and_sampler() -> None:
    trials = [_probe(1e-2, 500, 0.1), _probe(1e-1, 90, 0.4), _probe(0.5, 20, 0.9)]
    best = best_within_target(trials, 100)
    assert best is not None and best.params["lam"] == 1e-1
    assert best_within_target(trials, 10) is None
    study = optuna.create_study(sampler=TargetSizeSampler(100, seed=0))
    for t in trials:
        study.add_trial(t)
    trial = study.ask()
    assert trial.suggest_float("lam", 1e-4, 1.0, log=True) == pytest.approx(math.sqrt(1e-3))
    assert 0.0 <= trial.suggest_float("other", 0.0, 1.0) <= 1.0  # random for anything else
