"""ModelSpec validation and round trip; model layouts, sizes, MACs."""

from __future__ import annotations

import json

import pytest
import torch
from _nets import SPECS
from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.network.switches import InputSwitch, Switch


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_json_round_trip(name: str) -> None:
    spec = SPECS[name]
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_mlp_layout_sizes_and_macs() -> None:
    spec = ModelSpec(kind="mlp", in_features=10, out_features=3, hidden=(8, 5),
                     batchnorm=True, dropout=0.1)
    m = build_model(spec, seed=0)
    types = [type(layer) for layer in m.layers]
    assert types == [nn.Linear, nn.BatchNorm1d, Switch, nn.ReLU, nn.Dropout] * 1 + [
        nn.Linear, nn.BatchNorm1d, Switch, nn.ReLU, nn.Dropout, nn.Linear]
    assert m.widths() == [8, 5]
    weights = 10 * 8 + 8 + 8 * 5 + 5 + 5 * 3 + 3
    assert m.param_count() == weights + 2 * (8 + 5) + (8 + 5)  # + BN affine + β
    assert m.macs_per_sample() == 10 * 8 + 8 * 5 + 5 * 3
    assert m(torch.randn(4, 10)).shape == (4, 3)


def test_cnn_layout_and_macs() -> None:
    m = build_model(SPECS["cnn"], seed=0)
    assert [g.name for g in m.groups()] == ["conv0", "conv1", "dense0"]
    assert [g.block for g in m.groups()] == [1, 4, 1]  # conv1's channel → 2×2 block
    assert m.widths() == [4, 5, 6]
    assert m.macs_per_sample() == 4 * 9 * 64 + 5 * 4 * 9 * 16 + 20 * 6 + 6 * 4
    x = torch.randn(3, 64)
    assert torch.equal(m(x), m(x.view(3, 1, 8, 8)))


def test_single_layer_models_gate_inputs() -> None:
    for kind in ("linear", "logistic"):
        m = build_model(ModelSpec(kind=kind, in_features=5, out_features=2), seed=0)
        assert isinstance(m.layers[0], InputSwitch) and isinstance(m.layers[1], nn.Linear)
        assert m.widths() == [5]  # live inputs
        assert m.macs_per_sample() == 10
        x = torch.randn(4, 5)
        lin = m.layers[1]
        assert isinstance(lin, nn.Linear)
        with torch.no_grad():
            m.layers[0].beta.copy_(torch.tensor([1.0, 0.0, 2.0, 0.0, 1.0]))
            expected = (x * torch.tensor([1.0, 0.0, 2.0, 0.0, 1.0])) @ lin.weight.T + lin.bias
        assert torch.allclose(m(x), expected)


def test_static_nets_have_no_switches_and_widths_are_layer_sizes() -> None:
    spec = ModelSpec(kind="mlp", in_features=6, out_features=2, hidden=(9, 4), switches=False)
    m = build_model(spec, seed=0)
    assert m.switches() == [] and m.widths() == [9, 4]
    assert m.param_count() == 6 * 9 + 9 + 9 * 4 + 4 + 4 * 2 + 2
    cnn = build_model(ModelSpec(kind="cnn", in_features=64, out_features=3, hidden=(3,),
                                dense=(5,), image_shape=(1, 8, 8), switches=False))
    assert cnn.switches() == [] and cnn.widths() == [3, 5]


def test_seed_is_deterministic_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model(SPECS["mlp_bn"], seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_model(SPECS["mlp_bn"], seed=7)
    c = build_model(SPECS["mlp_bn"], seed=8)
    for (ka, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), ka
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(),
                                                         c.state_dict().values(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "rnn", "in_features": 3, "out_features": 1}, "kind='rnn'"),
        ({"kind": "mlp", "in_features": 0, "out_features": 1, "hidden": (3,)}, "in_features=0"),
        ({"kind": "mlp", "in_features": 3, "out_features": 1}, "hidden=()"),
        ({"kind": "mlp", "in_features": 3, "out_features": 1, "hidden": (0,)}, "hidden=\\(0,\\)"),
        ({"kind": "linear", "in_features": 3, "out_features": 1, "hidden": (4,)}, "single-layer"),
        ({"kind": "mlp", "in_features": 3, "out_features": 1, "hidden": (4,), "dropout": 1.0},
         "dropout=1.0"),
        ({"kind": "cnn", "in_features": 64, "out_features": 1, "hidden": (4,)}, "image_shape"),
        ({"kind": "cnn", "in_features": 60, "out_features": 1, "hidden": (4,),
          "image_shape": (1, 8, 8)}, "in_features=60"),
        ({"kind": "cnn", "in_features": 64, "out_features": 1, "hidden": (2, 2, 2, 2),
          "image_shape": (1, 8, 8)}, "at most 3"),
        ({"kind": "mlp", "in_features": 3, "out_features": 1, "hidden": (4,),
          "activation": "gelu"}, "activation='gelu'"),
    ],
)
def test_bad_specs_name_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelSpec(**kwargs)  # type: ignore[arg-type]


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ConfigError, match="unknown fields \\['width'\\]"):
        ModelSpec.from_dict({"kind": "linear", "in_features": 2, "out_features": 1, "width": 3})
