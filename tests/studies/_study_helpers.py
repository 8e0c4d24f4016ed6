"""Builders for the studies tests: tiny specs and synthetic finished trials (no training)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from shrinknets_core.errors import StopTraining
from shrinknets_core.training.trainer import EpochRecord
from studies.spec import StudySpec, load_spec


def tiny_spec(
    kind: str, name: str, *, training_overrides: dict[str, Any] | None = None, **search: Any
) -> StudySpec:
    """A digits study small enough to run in a couple of seconds (λ trials from scratch
    unless ``warm_start`` is given: tests/studies/test_warm_start.py covers it)."""
    search.setdefault("warm_start", False)
    return load_spec(
        {
            "name": name,
            "dataset": {"name": "digits"},
            "architecture": {"depth": 2, "max_width": 16},
            "training": {
                "epochs": 2,
                "batch_size": 128,
                "device": "cpu",
                "beta_lr": 2.0,
                "gamma": 0.9,
                **(training_overrides or {}),
            },
            "search": {"kind": kind, "n_trials": 3, "lam_min": 1e-3, "lam_max": 0.3, **search},
        }
    )


def crash_at(epoch: int) -> Callable[[EpochRecord], None]:
    """An epoch hook that stops training at its ``epoch``-th call, as a crashed worker
    would (``StopTraining``; the path then raises ``TrialStopped``)."""
    calls = 0

    def crash(record: EpochRecord) -> None:
        nonlocal calls
        calls += 1
        if calls == epoch:
            raise StopTraining("worker crashed")

    return crash


_T0 = datetime(2026, 1, 1)


def width_trial(
    number: int, loss: float, widths: tuple[int, int], params: int, cost: float
) -> FrozenTrial:
    """A finished width-search trial as run_trial stores it (no training)."""
    history = [
        {"epoch": 1, "widths": list(widths), "val_loss": loss + 0.5, "params": params},
        {"epoch": 2, "widths": list(widths), "val_loss": loss, "params": params},
    ]
    trial = optuna.trial.create_trial(
        value=loss,
        params={"width_1": widths[0], "width_2": widths[1]},
        distributions={
            "width_1": IntDistribution(1, 64, log=True),
            "width_2": IntDistribution(1, 64, log=True),
        },
        user_attrs={
            "history": history,
            "final_widths": list(widths),
            "initial_widths": list(widths),
            "params": params,
            "cost_macs": cost,
            "wall_time_s": cost / 100,
        },
    )
    trial.number = number
    trial.datetime_complete = _T0 + timedelta(minutes=number)
    return trial


def lambda_trial(
    number: int, loss: float, lam: float, path: list[tuple[int, int]], params: int, cost: float
) -> FrozenTrial:
    """A finished λ trial whose widths went (64, 64) → path[0] → ... → path[-1]."""
    history = [
        {"epoch": i + 1, "widths": list(w), "val_loss": loss, "params": params}
        for i, w in enumerate(path)
    ]
    trial = optuna.trial.create_trial(
        value=loss,
        params={"lam": lam},
        distributions={"lam": FloatDistribution(1e-4, 1.0, log=True)},
        user_attrs={
            "history": history,
            "final_widths": list(path[-1]),
            "initial_widths": [64, 64],
            "params": params,
            "cost_macs": cost,
            "wall_time_s": cost / 100,
            "lam": lam,
        },
    )
    trial.number = number
    trial.datetime_complete = _T0 + timedelta(minutes=number)
    return trial


def pruned_trial(number: int, cost: float) -> FrozenTrial:
    trial = optuna.trial.create_trial(
        state=TrialState.PRUNED,
        params={"width_1": 4, "width_2": 4},
        distributions={
            "width_1": IntDistribution(1, 64, log=True),
            "width_2": IntDistribution(1, 64, log=True),
        },
        user_attrs={"cost_macs": cost, "wall_time_s": cost / 100, "final_widths": [4, 4]},
    )
    trial.number = number
    trial.datetime_complete = _T0 + timedelta(minutes=number)
    return trial
