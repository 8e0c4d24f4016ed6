"""Pruning by importance: scores by hand, size targets, function kept, state sliced."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from _nets import SPECS, data, net, toy_data
from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.removal import (
    importance_scores,
    params_at_widths,
    prune_to_params,
    remove_dead,
    replay_removals,
)
from shrinknets_core.training.trainer import TrainConfig, Trainer


def _tiny() -> nn.Module:
    """2 → 3 → 2 → 1 with weights set so the L2 scores are easy to work out by hand."""
    m = build_model(ModelSpec(kind="mlp", in_features=2, out_features=1, hidden=(3, 2)),
                    seed=0).double()
    lin = [mod for mod in m.layers if isinstance(mod, nn.Linear)]
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]))  # rows 5, 1, 2
        lin[1].weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))  # cols 1, 2, 1
        lin[2].weight.copy_(torch.tensor([[6.0, 8.0]]))  # cols 6, 8
        for sw in m.switches():
            sw.beta.fill_(1.0)
        m.switches()[0].beta[2] = 0.5
    return m


def test_l2_scores_are_the_path_norms_normalised_per_layer() -> None:
    m = _tiny()
    first, second = importance_scores(m, "l2")
    # layer 0: ‖row‖·‖col‖·|β| = 5·1·1, 1·2·1, 2·1·0.5 → 5, 2, 1; mean 8/3
    assert first.tolist() == pytest.approx([5 * 3 / 8, 2 * 3 / 8, 1 * 3 / 8])
    # layer 1: rows of W₁ (‖(1,2,0)‖ = √5, ‖(0,0,1)‖ = 1) × 6 and 8 → 6√5, 8
    raw = torch.tensor([6 * 5 ** 0.5, 8.0], dtype=torch.float64)
    assert second.tolist() == pytest.approx((raw / raw.mean()).tolist())


def test_the_lowest_scored_neurons_go_first_across_layers() -> None:
    m = _tiny()
    scores = importance_scores(m, "l2")  # normalised: 1.875 0.75 0.375 | 1.25 0.75
    full = m.param_count()
    one_less = params_at_widths(m, [2, 2])
    outcome = prune_to_params(m, scores, one_less)
    assert outcome.killed == 1 and outcome.reached and outcome.params == one_less
    assert m.switches()[0].alive.tolist() == [True, True, False]  # the 0.375 neuron
    two_less = params_at_widths(m, [1, 2])
    outcome = prune_to_params(m, importance_scores(m, "l2"), two_less)
    assert m.switches()[0].alive.tolist() == [True, False, False]
    assert outcome.params == two_less < one_less < full


def test_ties_go_to_the_earlier_layer_and_a_layer_keeps_one_neuron() -> None:
    m = _tiny()
    scores = [torch.ones(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)]
    prune_to_params(m, scores, params_at_widths(m, [2, 2]))
    # layer 0 goes first; its survivor on ties is its first neuron, so index 1 goes
    assert m.switches()[0].alive.tolist() == [True, False, True]
    outcome = prune_to_params(m, importance_scores(m, "l2"), target=1)
    assert [int(sw.alive.sum()) for sw in m.switches()] == [1, 1]
    assert not outcome.reached and outcome.params == params_at_widths(m, [1, 1])


@pytest.mark.parametrize("name", ["mlp", "mlp_bn", "cnn"])
@pytest.mark.parametrize("importance", ["l2", "taylor"])
def test_every_target_is_reached_with_the_fewest_removals(name: str, importance: str) -> None:
    m = net(name)
    x, y = data(m)
    full = m.param_count()
    smallest = params_at_widths(m, [1] * len(m.switches()))
    for fraction in (0.9, 0.6, 0.3, 0.1):
        target = max(smallest, int(full * fraction))
        trial = copy.deepcopy(m)
        scores = importance_scores(trial, importance, batches=[(x, y)],
                                   loss_fn=nn.functional.mse_loss)
        outcome = prune_to_params(trial, scores, target)
        killed = [(float(s[i]), layer) for layer, (sw, s) in
                  enumerate(zip(trial.switches(), scores, strict=True))
                  for i in (~sw.alive).nonzero().flatten().tolist()]
        widths = trial.alive_widths()
        remove_dead(trial)
        assert trial.param_count() == outcome.params <= target
        assert outcome.killed == len(killed) > 0
        # the highest-ranked neuron removed was needed: without it the target is missed
        last = max(killed)[1]
        assert params_at_widths(m, [w + (j == last) for j, w in enumerate(widths)]) > target


def test_all_zero_neurons_go_first_and_the_function_stays() -> None:
    m = net("mlp")
    x, _ = data(m)
    lin = [mod for mod in m.layers if isinstance(mod, nn.Linear)]
    with torch.no_grad():  # neurons 2 and 5 of layer 0 compute and pass on nothing
        for i in (2, 5):
            lin[0].weight[i] = 0.0
            lin[0].bias[i] = 0.0
            lin[1].weight[:, i] = 0.0
    before = m(x)
    scores = importance_scores(m, "l2")
    assert scores[0][[2, 5]].tolist() == [0.0, 0.0]
    target = params_at_widths(m, [6, 7])
    prune_to_params(m, scores, target)
    assert (~m.switches()[0].alive).nonzero().flatten().tolist() == [2, 5]
    remove_dead(m)
    assert torch.allclose(m(x), before, atol=1e-12, rtol=0)  # float64: summation order only


def test_trainer_prune_to_slices_optimizer_state_and_logs_a_replayable_removal() -> None:
    dataset = toy_data()
    spec = ModelSpec(kind="mlp", in_features=dataset.n_features,
                     out_features=dataset.n_outputs, hidden=(16, 12))
    trainer = Trainer(build_model(spec, seed=1), dataset,
                      TrainConfig(epochs=1, lam=0.0, seed=1, device="cpu"))
    trainer.fit()
    first = trainer.model.layers[0]
    kept_state = trainer.optimizer.state[first.weight]["exp_avg"].clone()
    target = params_at_widths(trainer.model, [8, 12])
    outcome = trainer.prune_to(target, "taylor", batches=2)
    assert outcome.reached and trainer.model.param_count() == outcome.params <= target
    assert outcome.cost_macs > 0
    record = trainer.model.removal_log[-1]
    kept = record.kept[0]
    assert trainer.model.widths() == [len(k) for k in record.kept] != [16, 12]
    for p in trainer.optimizer.param_groups[0]["params"]:
        assert trainer.optimizer.state[p]["exp_avg"].shape == p.shape
    new_first = trainer.model.layers[0]
    assert torch.equal(trainer.optimizer.state[new_first.weight]["exp_avg"],
                       kept_state[kept])
    fresh = build_model(spec, seed=1)
    replay_removals(fresh, trainer.model.removal_log)
    fresh.load_state_dict(trainer.model.state_dict())
    x = dataset.x_val
    assert torch.equal(fresh(x), trainer.model(x))
    trainer.fit()  # training goes on at the new size


def test_unknown_importance_and_taylor_without_data_name_the_field() -> None:
    m = net("mlp")
    with pytest.raises(ConfigError, match="importance") as bad:
        importance_scores(m, "random")
    assert bad.value.field == "importance"
    with pytest.raises(ConfigError, match="importance"):
        importance_scores(m, "taylor", loss_fn=nn.functional.mse_loss)


def test_params_at_widths_matches_a_built_network() -> None:
    spec = SPECS["cnn"]
    m = build_model(spec, seed=0)
    shaped = build_model(dataclasses.replace(spec, hidden=(2, 3), dense=(4,)), seed=0)
    assert params_at_widths(m, [2, 3, 4]) == shaped.param_count()
