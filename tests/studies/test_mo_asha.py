"""MO-ASHA: rungs, non-dominated sorting with ε-net ties, promotion, and the arm."""

from __future__ import annotations

import math

import optuna
import pytest
from _study_helpers import tiny_spec
from optuna.trial import TrialState

from shrinknets_core.errors import StopTraining
from shrinknets_core.training.trainer import EpochRecord
from studies._mo_asha import MoAshaCheck, mo_rank, promoted, rung_epochs
from studies.arms import arm_of, arm_spec
from studies.budget import spent
from studies.execute import run_study


def test_rungs_are_powers_of_eta_below_the_last_epoch() -> None:
    assert rung_epochs(3, 17) == [1, 3, 9]
    assert rung_epochs(3, 9) == [1, 3]  # epoch 9 is the result, not a rung
    assert rung_epochs(2, 8) == [1, 2, 4]
    assert rung_epochs(3, 1) == []


def test_fronts_first_then_an_eps_net_within_each() -> None:
    #        0 front        1 front        2 front     3 dominated by 2   4 front
    points = [(0.10, 1e5), (0.30, 1e3), (0.20, 1e4), (0.25, 2e4), (0.50, 1e2)]
    # front {0, 1, 2, 4}. Scaled to [0, 1] (loss; log params): 0 (0, 1), 1 (0.5, 1/3),
    # 2 (0.25, 2/3), 4 (1, 0). Lowest loss first: 0; then the farthest from it: 4
    # (distance √2); then the farthest from both: 1 (0.60 from 4, 0.83 from 0) before
    # 2 (0.42 from 0); then the second front, 3
    assert mo_rank(points) == [0, 4, 1, 2, 3]


def test_ties_keep_the_earlier_point_first_and_non_finite_losses_go_last() -> None:
    assert mo_rank([(0.2, 10.0), (0.2, 10.0)]) == [0, 1]
    assert mo_rank([(math.nan, 1.0), (0.5, 100.0)]) == [1, 0]
    assert mo_rank([]) == []


def test_promotion_keeps_the_best_one_in_eta() -> None:
    # a single trial at a rung goes on; so does the first-ranked of fewer than η
    assert promoted((0.3, 100.0), [], eta=3)
    assert not promoted((0.4, 200.0), [(0.3, 100.0)], eta=3)  # dominated: not first
    assert promoted((0.3, 100.0), [(0.4, 200.0)], eta=3)
    # an equal point that reached the rung first stays ahead of the newcomer
    assert not promoted((0.3, 100.0), [(0.3, 100.0)], eta=3)
    # six at the rung, η = 3: the first two by rank go on. The newcomer is on the front
    # but at its crowded middle: the ε-net ranks the two ends first
    others = [(0.10, 1e5), (0.50, 1e2), (0.40, 1e5), (0.45, 1e5), (0.60, 1e5)]
    assert not promoted((0.30, 1e3), others, eta=3)
    assert promoted((0.05, 1e5), others, eta=3)  # now the lowest loss: ranked first


def _record(epoch: int, val_loss: float, params: int) -> EpochRecord:
    return EpochRecord(epoch=epoch, widths=[4, 4], params=params, macs_per_sample=1,
                       train_loss=val_loss, val_loss=val_loss, val_accuracy=None, lr=1e-3,
                       wall_time_s=0.0, cost_macs=0, live_inputs=0.0, samples=1, removed=0)


def test_the_hook_reads_the_other_trials_rung_from_their_histories() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    for loss, params in ((0.1, 1e5), (0.5, 1e2)):  # two trials that passed epoch 1
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, values=[loss, params],
            user_attrs={"history": [{"epoch": 1, "val_loss": loss, "params": params}]}))
    check = MoAshaCheck(study, number=2, epochs=9, eta=3, multi_objective=True)
    check(_record(2, 9.0, 10**6))  # not a rung: nothing happens
    with pytest.raises(StopTraining, match=r"MO-ASHA at epoch 1 \(3 trials"):
        check(_record(1, 0.6, 10**6))  # dominated by both
    check(_record(1, 0.05, 10**5))  # the best loss: goes on


def test_a_rung_that_cannot_be_read_keeps_the_trial() -> None:
    """The storage away at a rung: the trial goes on (its work is kept) instead of failing."""

    class Away:
        def get_trials(self, **_: object) -> list[object]:
            raise ConnectionError("database is away")

    check = MoAshaCheck(Away(), number=0, epochs=9, eta=3,  # type: ignore[arg-type]
                        multi_objective=True)
    check(_record(1, 9.0, 10**6))


def test_the_arm_is_multi_objective_width_search_with_mo_asha() -> None:
    spec = arm_spec(tiny_spec("lambda", "arm", max_macs=1e9, n_trials=None), "width_mo_asha")
    assert (spec.search.kind, spec.search.pruner) == ("width", "mo_asha")
    assert spec.search.objectives == ["val_loss", "params"] and spec.search.eta == 3
    assert arm_of(spec) == "width_mo_asha"
    assert arm_of(arm_spec(spec, "width")) == "width" and arm_spec(spec, "width").search.pruner \
        == "none"


def test_a_mo_asha_study_prunes_at_its_rungs_and_charges_the_epochs_trained() -> None:
    spec = arm_spec(tiny_spec("width", "mo-asha", n_trials=10,
                              training_overrides={"epochs": 9}), "width_mo_asha")
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 10
    assert all(len(t.user_attrs["history"]) in (1, 3) for t in pruned)  # stopped at a rung
    assert all(len(t.user_attrs["history"]) == 9 for t in complete)
    assert spent(study.trials).macs == pytest.approx(
        sum(h["cost_macs"] for t in study.trials for h in t.user_attrs["history"]))
