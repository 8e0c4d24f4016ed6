"""The priced penalty: each neuron's |β| weighted by the parameters / MACs it carries,
checked by hand, and repriced after a physical removal."""

from __future__ import annotations

import pytest
import torch

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.network.pricing import neuron_prices
from shrinknets_core.removal import remove_dead
from shrinknets_core.training._optim import BetaProx
from shrinknets_core.training.trainer import TrainConfig


def _mlp() -> torch.nn.Module:
    return build_model(ModelSpec(kind="mlp", in_features=784, out_features=10, hidden=(256, 64)))


def test_mlp_prices_by_hand() -> None:
    model = _mlp()
    # layer 1: 784 weights + bias + β + 64 consumer columns; layer 2: 256 + 1 + 1 + 10
    assert neuron_prices(model, "params") == [850.0, 268.0]
    assert neuron_prices(model, "macs") == [848.0, 266.0]  # multiply-accumulates only
    assert neuron_prices(model, "uniform") == [1.0, 1.0]
    with pytest.raises(ValueError, match="penalty_weight='flops'"):
        neuron_prices(model, "flops")


def test_prices_follow_removals() -> None:
    model = _mlp()
    sw1, sw2 = model.switches()
    sw1.alive[100:] = False  # keep 100 of 256
    sw2.alive[:14] = False  # keep 50 of 64
    remove_dead(model)
    # layer 1 now feeds 50 neurons; layer 2 is fed by 100
    assert neuron_prices(model, "params") == [784 + 1 + 1 + 50, 100 + 1 + 1 + 10]


def test_cnn_prices_count_spatial_macs_and_flattened_blocks() -> None:
    model = build_model(
        ModelSpec(kind="cnn", in_features=64, out_features=10, hidden=(32, 64), dense=(128,),
                  image_shape=(1, 8, 8), batchnorm=True)
    )
    params = neuron_prices(model, "params")
    # conv1: 9 weights + bias + β + 2 BN affine + 64 × 9 consumer weights
    # conv2: 32·9 + 1 + 1 + 2 + 128 × (2×2) flattened columns; dense: 256 + 1 + 1 + 2 + 10
    assert params == [9 + 1 + 1 + 2 + 576, 288 + 1 + 1 + 2 + 512, 256 + 1 + 1 + 2 + 10]
    macs = neuron_prices(model, "macs")
    # conv1 runs on 8×8, conv2 on 4×4 (after the first pool)
    assert macs == [9 * 64 + 576 * 16, 288 * 16 + 512, 256 + 10]


def test_prox_threshold_is_the_price_times_lambda() -> None:
    model = _mlp()
    for sw in model.switches():
        sw.beta.data.fill_(1.0)
    prox = BetaProx(model, lr=0.5, lam=1e-3, penalty_weight="params")
    prox.step()  # no gradients: only the soft threshold acts
    b1, b2 = (sw.beta.detach() for sw in model.switches())
    assert torch.allclose(b1, torch.full_like(b1, 1 - 0.5 * 1e-3 * 850))
    assert torch.allclose(b2, torch.full_like(b2, 1 - 0.5 * 1e-3 * 268))
    # layer-normalised step: relative prices (mean 1), times √n
    model = _mlp()
    for sw in model.switches():
        sw.beta.data.fill_(1.0)
    BetaProx(model, lr=0.1, lam=0.01, lam_scale="grad", penalty_weight="params").step()
    mean = (850 + 268) / 2
    b1, b2 = (sw.beta.detach() for sw in model.switches())
    assert torch.allclose(b1, torch.full_like(b1, 1 - 0.1 * 0.01 * 16 * 850 / mean))
    assert torch.allclose(b2, torch.full_like(b2, 1 - 0.1 * 0.01 * 8 * 268 / mean))


def test_priced_weights_need_the_prox_step() -> None:
    with pytest.raises(ConfigError, match="penalty_weight='params' prices the proximal"):
        TrainConfig(penalty_weight="params", beta_optimizer="same")
