"""``studies.budget`` on synthetic trials: what is charged, and when the budget is spent."""

from __future__ import annotations

from typing import Any

import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from studies.budget import exhausted, spent, trial_cost
from studies.spec import load_spec


def _epochs(*macs: float, seconds: float = 0.5) -> list[dict[str, Any]]:
    return [{"epoch": i + 1, "cost_macs": m, "wall_time_s": seconds} for i, m in enumerate(macs)]


def _trial(state: TrialState, **attrs: Any) -> FrozenTrial:
    values = [1.0] if state == TrialState.COMPLETE else None
    return create_trial(state=state, values=values, user_attrs=attrs)


def _spec(**search: Any) -> Any:
    return load_spec({"name": "b", "dataset": {"name": "digits"},
                      "search": {"kind": "width", **search}})


TRIALS = [
    # complete: its total, not its history (a λ-path step's history covers the whole path)
    _trial(TrialState.COMPLETE, search_cost_macs=1000, search_wall_time_s=2.0,
           history=_epochs(9999, 9999)),
    # pruned after 2 of 5 epochs: charged the 2 epochs it trained
    _trial(TrialState.PRUNED, search_cost_macs=300, search_wall_time_s=1.0,
           history=_epochs(150, 150)),
    # failed by a lost heartbeat: no total, charged the epochs it reported
    _trial(TrialState.FAIL, history=_epochs(100, 100, 100)),
    # running: the epochs reported so far, even if a total is there already
    _trial(TrialState.RUNNING, search_cost_macs=5000, history=_epochs(200)),
    # a retry not started yet: nothing
    _trial(TrialState.WAITING, history=_epochs(7777)),
]


def test_spent_charges_finished_trials_in_full_and_running_ones_so_far() -> None:
    used = spent(TRIALS)
    assert used.trials == 2  # complete + pruned count against n_trials
    assert used.running == 1
    assert used.macs == 1000 + 300 + 300 + 200
    assert used.seconds == pytest.approx(2.0 + 1.0 + 1.5 + 0.5)


def test_pruned_trial_is_charged_only_the_epochs_it_trained() -> None:
    pruned = _trial(TrialState.PRUNED, history=_epochs(150, 150))  # no total: its history
    assert trial_cost(pruned) == (300.0, 1.0)
    assert trial_cost(TRIALS[1]) == (300.0, 1.0)


def test_running_trial_counts_towards_exhaustion() -> None:
    running = _trial(TrialState.RUNNING, history=_epochs(400, 400))
    spec = _spec(n_trials=None, max_macs=1000)
    assert exhausted(spec, spent(TRIALS[:1])) is not None  # 1000 of 1000: spent
    assert exhausted(spec, spent([])) is None
    assert exhausted(spec, spent([running])) is None  # 800 < 1000
    reason = exhausted(spec, spent([running, _trial(TrialState.RUNNING,
                                                    history=_epochs(200))]))
    assert reason is not None and "compute budget spent" in reason


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"n_trials": 2}, "trial budget spent"),
        ({"n_trials": 3}, None),
        ({"n_trials": 3, "max_macs": 1800}, "compute budget spent"),
        ({"n_trials": None, "max_macs": 1801}, None),
        ({"n_trials": None, "max_seconds": 5.0}, "time budget spent"),
        ({"n_trials": None, "max_seconds": 5.5, "max_macs": 1e9}, None),
    ],
)
def test_exhausted_names_the_budget_spent(search: dict[str, Any], expected: str | None) -> None:
    reason = exhausted(_spec(**search), spent(TRIALS))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(expected), reason


def test_overshoot_is_what_is_spent_beyond_max_macs() -> None:
    used = spent(TRIALS)
    assert used.overshoot_macs(_spec(n_trials=None, max_macs=1500)) == 300
    assert used.overshoot_macs(_spec(n_trials=None, max_macs=5000)) == 0
    assert used.overshoot_macs(_spec(n_trials=3)) == 0
