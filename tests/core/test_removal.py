"""Physical removal: same function, same training continuation, guards, log and replay."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
import torch
from _nets import SPECS, data, kill, net, warm_up_bn
from torch import nn

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.network.models import ShrinkNet, build_model
from shrinknets_core.removal import RemovalRecord, remove_dead, replay_removals
from shrinknets_core.removal._handlers import LayerHandler, handler_for, register_handler
from shrinknets_core.removal.dead import NoRule, SignVarianceRule
from shrinknets_core.training.penalties import group_penalty, shrink_penalty

MODELS = ["mlp", "mlp_bn", "cnn", "linear"]

OPTIMIZERS: dict[str, Callable[[ShrinkNet], torch.optim.Optimizer]] = {
    "adam": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2),
    "sgd_momentum": lambda m: torch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9),
    "adamw_amsgrad": lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, amsgrad=True),
    "adagrad": lambda m: torch.optim.Adagrad(m.parameters(), lr=1e-2),
}


@pytest.mark.parametrize("name", MODELS)
def test_removal_preserves_the_function(name: str) -> None:
    m = net(name)
    x, _ = data(m)
    warm_up_bn(m, x)
    kill(m)
    m.eval()
    before = m(x)
    widths = m.widths()
    record = remove_dead(m)
    assert record is not None and m.removal_log == [record]
    assert m.widths() == [len(k) for k in record.kept] == m.alive_widths()
    assert sum(m.widths()) < sum(widths)
    assert torch.allclose(m(x), before, atol=1e-5, rtol=0)
    m.train()  # batch statistics are per channel too
    assert m(x).shape == before.shape


def test_cnn_flatten_expands_a_channel_to_its_block() -> None:
    m = net("cnn")
    dense = m.layers[11]
    assert isinstance(dense, nn.Linear) and dense.in_features == 5 * 4
    expected = dense.weight.detach().view(6, 5, 4)[:, [0, 2, 3]].reshape(6, 12)
    m.switches()[1].alive[[1, 4]] = False
    remove_dead(m)
    assert dense.in_features == 12 and torch.equal(dense.weight.detach(), expected)


def _step(m: ShrinkNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          rule: NoRule) -> None:
    opt.zero_grad()
    loss = nn.functional.mse_loss(m(x), y)
    loss = loss + shrink_penalty(m, lam=1e-2, lam2=1e-3) + group_penalty(m, lam=1e-3)
    loss.backward()
    opt.step()
    rule.update(m)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", MODELS)
def test_training_continues_as_if_masked(name: str, opt_name: str) -> None:
    """k steps after physical removal equal k steps of the masked wide network."""
    make = OPTIMIZERS[opt_name]
    wide = net(name)
    x, y = data(wide)
    opt = make(wide)
    rule = NoRule()
    for _ in range(3):  # non-trivial optimizer state before the removal
        _step(wide, opt, x, y, rule)
    kill(wide)
    shrunk = copy.deepcopy(wide)
    opt_shrunk = make(shrunk)
    opt_shrunk.load_state_dict(copy.deepcopy(opt.state_dict()))  # no shared buffers
    assert remove_dead(shrunk, opt_shrunk, rule=rule) is not None
    for _ in range(5):
        _step(wide, opt, x, y, rule)
        _step(shrunk, opt_shrunk, x, y, rule)
    for mode in (True, False):
        wide.train(mode)
        shrunk.train(mode)
        assert torch.allclose(wide(x), shrunk(x), atol=1e-5, rtol=0)
    # the live parameters (and BN statistics) of the wide net equal the shrunk net's
    reference = copy.deepcopy(wide)
    remove_dead(reference)
    for key, value in shrunk.state_dict().items():
        assert torch.allclose(value.double(), reference.state_dict()[key].double(),
                              atol=1e-5, rtol=0), key


def test_optimizer_params_and_state_are_replaced() -> None:
    m = net("mlp")
    x, y = data(m)
    opt = torch.optim.Adam(m.parameters())
    _step(m, opt, x, y, NoRule())
    kill(m)
    remove_dead(m, opt)
    params = opt.param_groups[0]["params"]
    assert [id(p) for p in params] == [id(p) for p in m.parameters()]
    for p in m.parameters():
        state = opt.state[p]
        assert state["exp_avg"].shape == p.shape and state["exp_avg_sq"].shape == p.shape
        assert state["step"].shape == ()
        assert p.grad is not None and p.grad.shape == p.shape
    assert len(opt.state) == len(params)


def test_dead_rule_state_is_sliced() -> None:
    m = net("mlp")
    rule = SignVarianceRule(gamma=0.9)
    rule.attach(m)
    kill(m)
    remove_dead(m, rule=rule)
    assert [v.shape[0] for v in rule.vars] == m.widths()
    assert rule.update(m) == 0


def test_zero_width_guard_keeps_the_largest_beta() -> None:
    m = net("mlp")
    x, _ = data(m)
    sw = m.switches()[0]
    with torch.no_grad():
        sw.beta.copy_(torch.linspace(0.1, 0.8, 8))
        sw.beta[5] = -3.0
    sw.alive[:] = False  # β not zeroed here, so the kept one is identifiable
    m.eval()
    before = m(x)
    record = remove_dead(m)
    assert record is not None and record.kept[0] == [5]
    assert m.widths() == [1, 7] and not sw.alive[0]
    assert torch.allclose(m(x), before, atol=1e-12)
    assert remove_dead(m) is None  # nothing further to remove


def test_nothing_dead_returns_none() -> None:
    m = net("cnn")
    assert remove_dead(m) is None and m.removal_log == []


def test_static_net_is_never_shrunk() -> None:
    spec = SPECS["mlp"].__class__(**{**SPECS["mlp"].to_dict(), "hidden": (4, 3),
                                     "switches": False})
    m = build_model(spec)
    assert remove_dead(m) is None and m.widths() == [4, 3]


def test_log_is_json_and_replays_on_a_fresh_model() -> None:
    m = net("cnn")
    x, _ = data(m)
    warm_up_bn(m, x)
    kill(m, pattern=3)
    remove_dead(m, step=10)
    m.switches()[2].alive[0] = False
    remove_dead(m, step=20)
    log = json.loads(json.dumps([r.to_dict() for r in m.removal_log]))
    assert [r["step"] for r in log] == [10, 20]
    fresh = build_model(SPECS["cnn"]).double()
    replay_removals(fresh, [RemovalRecord.from_dict(r) for r in log])
    fresh.load_state_dict(m.state_dict())
    assert fresh.widths() == m.widths()
    m.eval()
    fresh.eval()
    assert torch.equal(fresh(x), m(x))
    assert [r.to_dict() for r in fresh.removal_log] == log


def test_replay_of_a_foreign_log_is_refused() -> None:
    m = net("mlp")
    with pytest.raises(ShrinkNetsError, match="has 1 groups but the model has 2"):
        replay_removals(m, [RemovalRecord(step=0, kept=[[0]])])
    with pytest.raises(ShrinkNetsError, match="do not fit width 8"):
        replay_removals(m, [RemovalRecord(step=0, kept=[[0, 9], [0]])])
    with pytest.raises(ShrinkNetsError, match="malformed removal record"):
        RemovalRecord.from_dict({"kept": []})


def test_unknown_layer_type_names_the_fix() -> None:
    class Odd(nn.Module):
        pass

    with pytest.raises(ShrinkNetsError, match=r"Odd.*register_handler"):
        handler_for(Odd())
    register_handler(Odd, LayerHandler())
    assert handler_for(Odd()).outputs is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_removal_on_cuda_keeps_function_and_optimizer_state() -> None:
    m = net("cnn").cuda()
    x, y = (t.cuda() for t in data(m))
    opt = torch.optim.Adam(m.parameters())
    _step(m, opt, x, y, NoRule())
    kill(m)
    m.eval()
    before = m(x)
    remove_dead(m, opt)
    assert torch.allclose(m(x), before, atol=1e-5)
    for p in m.parameters():
        assert p.is_cuda and opt.state[p]["exp_avg"].shape == p.shape
