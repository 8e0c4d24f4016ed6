"""Switch and InputSwitch: initialisation, gating, dead masking, validation."""

from __future__ import annotations

import pytest
import torch

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.switches import InputSwitch, Switch


def test_inits() -> None:
    torch.manual_seed(0)
    assert torch.equal(Switch(5).beta.data, torch.ones(5))
    uniform = Switch(1000, init="uniform").beta.detach()
    assert uniform.min() >= -1 and uniform.max() <= 1 and uniform.std() > 0.5
    normal = Switch(1000, init="normal").beta.detach()
    assert abs(float(normal.mean())) < 0.15 and 0.85 < float(normal.std()) < 1.15
    assert normal.abs().max() > 1  # not bounded like the uniform init


def test_dense_gating_multiplies_features() -> None:
    sw = Switch(3)
    with torch.no_grad():
        sw.beta.copy_(torch.tensor([2.0, 0.0, -1.0]))
    x = torch.ones(4, 3)
    assert torch.equal(sw(x), torch.tensor([[2.0, 0.0, -1.0]] * 4))


def test_conv_gating_is_per_channel() -> None:
    sw = Switch(2, conv=True)
    with torch.no_grad():
        sw.beta.copy_(torch.tensor([3.0, -2.0]))
    x = torch.randn(2, 2, 4, 4)
    out = sw(x)
    assert torch.allclose(out[:, 0], 3 * x[:, 0]) and torch.allclose(out[:, 1], -2 * x[:, 1])


def test_dead_neuron_outputs_zero_and_gets_no_gradient() -> None:
    sw = Switch(3)
    sw.alive[1] = False
    with torch.no_grad():
        sw.beta.fill_(5.0)  # e.g. moved by optimizer momentum after death
    x = torch.randn(4, 3)
    out = sw(x)
    assert torch.equal(out[:, 1], torch.zeros(4))
    out.sum().backward()
    assert sw.beta.grad is not None and sw.beta.grad[1] == 0 and sw.beta.grad[0] != 0


def test_input_switch_selects_present_columns() -> None:
    sw = InputSwitch(4)
    with torch.no_grad():
        sw.beta.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    x = torch.arange(8.0).view(2, 4)
    assert torch.equal(sw(x), x * sw.beta.detach())
    # what removal does: keep inputs 1 and 3
    keep = torch.tensor([1, 3])
    sw.beta = torch.nn.Parameter(sw.beta.detach()[keep])
    sw.alive = sw.alive[keep]
    sw.index = sw.index[keep]
    assert torch.equal(sw(x), torch.tensor([[2.0, 12.0], [10.0, 28.0]]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_features": 0}, "num_features=0"), ({"num_features": 3, "init": "zeros"}, "init")],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Switch(**kwargs)  # type: ignore[arg-type]
