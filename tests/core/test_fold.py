"""fold(): a plain network without switches computing the same eval-mode outputs."""

from __future__ import annotations

import pytest
import torch
from _nets import data, kill, net, warm_up_bn
from torch import nn

from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.network.switches import Switch
from shrinknets_core.removal import remove_dead
from shrinknets_core.removal._fold import fold


@pytest.mark.parametrize("name", ["mlp", "mlp_bn", "cnn", "linear"])
@pytest.mark.parametrize("removed_before", [False, True])
def test_fold_computes_the_same_outputs(name: str, removed_before: bool) -> None:
    m = net(name)
    x, _ = data(m)
    warm_up_bn(m, x)
    with torch.no_grad():  # non-trivial gates, including negative ones
        for sw in m.switches():
            sw.beta.uniform_(-2.0, 2.0)
    kill(m)
    if removed_before:
        remove_dead(m)
    m.eval()
    expected = m(x)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    folded = fold(m)
    assert isinstance(folded, nn.Sequential) and not folded.training
    assert not any(isinstance(mod, Switch) for mod in folded.modules())
    assert torch.allclose(folded(x), expected, atol=1e-10)
    # dead neurons dropped, the original untouched
    weights = [mod for mod in folded if isinstance(mod, nn.Linear | nn.Conv2d)]
    if name == "linear":
        assert [weights[0].weight.shape[1]] == m.alive_widths()
    else:
        assert [w.weight.shape[0] for w in weights[:-1]] == m.alive_widths()
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())


def test_fold_of_input_gated_model_selects_live_columns() -> None:
    m = net("linear")
    kill(m)
    folded = fold(m)
    linear = next(mod for mod in folded if isinstance(mod, nn.Linear))
    assert linear.in_features == m.alive_widths()[0]
    x, _ = data(m)
    m.eval()
    assert torch.allclose(folded(x), m(x), atol=1e-12)


def test_fold_of_static_net_is_the_same_network() -> None:
    m = build_model(ModelSpec(kind="mlp", in_features=4, out_features=2, hidden=(3,),
                              switches=False), seed=0)
    x = torch.randn(5, 4)
    m.eval()
    assert torch.equal(fold(m)(x), m(x))
