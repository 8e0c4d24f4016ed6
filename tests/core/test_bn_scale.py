"""BatchNorm after a switch's consumer: the scale of β is free, and pinning it makes λ
well-posed (``shrinknets_core.training._optim``)."""

from __future__ import annotations

import torch

from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.training._evaluate import data_loss
from shrinknets_core.training._optim import BetaProx


def _cnn() -> ShrinkNet:
    return build_model(
        ModelSpec(kind="cnn", in_features=64, out_features=10, hidden=(8, 8), dense=(16,),
                  image_shape=(1, 8, 8)),
        seed=0,
    )


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_the_symmetry_is_real_and_found() -> None:
    model = _cnn()
    # conv blocks always carry a BatchNorm; the dense layers only with batchnorm=True
    assert model.scale_free_switches() == [True, False, False]
    x, y = _batch()
    model.train()
    before = data_loss(model(x), y, classify=True)
    with torch.no_grad():
        model.switches()[0].beta.mul_(0.1)  # the next BatchNorm's batch statistics absorb it
    after = data_loss(model(x), y, classify=True)
    assert torch.allclose(before, after, rtol=1e-4)
    mlp = build_model(ModelSpec(kind="mlp", in_features=4, out_features=2, hidden=(8, 8)))
    assert mlp.scale_free_switches() == [False, False]  # no BatchNorm: λ₂ on W resists


def test_unpinned_beta_decays_at_lr_times_lambda_per_step() -> None:
    """The ill-posed plain step: with no data gradient along the free scale, every β of the
    layer loses exactly beta_lr·λ per step — the widths record λ × steps."""
    model = _cnn()
    beta = model.switches()[0].beta
    with torch.no_grad():
        beta.fill_(0.9)
    prox = BetaProx(model, lr=0.5, lam=0.2, pin_scale=False)
    for _ in range(3):
        prox.step()
    assert torch.allclose(beta.detach(), torch.full_like(beta, 0.9 - 3 * 0.1))


def test_pinned_scale_keeps_the_largest_at_one_and_shrinks_the_others_relatively() -> None:
    model = _cnn()
    beta = model.switches()[0].beta
    with torch.no_grad():
        beta.copy_(torch.linspace(0.1, 0.8, 8))
    prox = BetaProx(model, lr=0.5, lam=0.2)  # threshold 0.1 per step
    prox.step()
    expected = (torch.linspace(0.1, 0.8, 8) - 0.1).clamp(min=0) / 0.7
    assert torch.allclose(beta.detach(), expected)
    assert float(beta.detach().abs().max()) == 1.0
    # scaling β by any c before the step gives the same direction after it (no free scale)
    for c in (0.5, 2.0):
        other = _cnn()
        with torch.no_grad():
            other.switches()[0].beta.copy_(torch.linspace(0.1, 0.8, 8) * c)
        BetaProx(other, lr=0.5, lam=0.2 * c).step()
        assert torch.allclose(other.switches()[0].beta.detach(), expected, atol=1e-6)
    # the dense switch feeds the output layer (no BatchNorm): the plain step, no rescale
    dense = model.switches()[2].beta
    with torch.no_grad():
        dense.fill_(0.5)
    prox.step()
    assert torch.allclose(dense.detach(), torch.full_like(dense, 0.4))


def test_pinning_leaves_the_training_mode_function_unchanged() -> None:
    model = _cnn()
    x, _ = _batch()
    model.train()
    with torch.no_grad():
        model.switches()[0].beta.mul_(0.3)
    before = model(x)
    prox = BetaProx(model, lr=0.0 + 1e-9, lam=0.0)
    prox.step()  # λ = 0, no gradient: only the rescale acts
    assert float(model.switches()[0].beta.detach().abs().max()) == 1.0
    assert torch.allclose(model(x), before, atol=1e-3)  # up to the BatchNorm eps (1e-5)
