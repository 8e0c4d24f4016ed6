"""Ω^rs, Ω^gp and the proximal step on β, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from _nets import net
from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.penalties import group_penalty, prox_step, shrink_penalty


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("p", [1, 2])
def test_shrink_penalty_matches_hand_computation(p: int) -> None:
    m = net("mlp_bn")
    betas = sum(sw.beta.abs().sum() for sw in m.switches())
    weights = sum(lin.weight.abs().pow(p).sum() for lin in _linears(m))
    got = shrink_penalty(m, lam=0.3, lam2=0.01, p=p)  # type: ignore[arg-type]
    assert torch.allclose(got, 0.3 * betas + 0.01 * weights)


def test_lam2_skips_switches_biases_and_norms() -> None:
    m = net("mlp_bn")
    base = shrink_penalty(m, lam=0.0, lam2=1.0)
    with torch.no_grad():
        for sw in m.switches():
            sw.beta.mul_(10)
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm1d | nn.Linear):
                mod.bias.add_(5)
            if isinstance(mod, nn.BatchNorm1d):
                mod.weight.mul_(3)
    assert torch.equal(shrink_penalty(m, lam=0.0, lam2=1.0), base)


def test_group_penalty_linear_model_uses_input_columns() -> None:
    m = net("linear")
    a = _linears(m)[0].weight  # (3, 9)
    expected = 0.2 * math.sqrt(3) * a.norm(dim=0).sum()
    assert torch.allclose(group_penalty(m, lam=0.2), expected)


def test_group_penalty_cnn_flatten_block() -> None:
    m = net("cnn")
    conv1 = m.layers[5]
    dense = _linears(m)[0]
    head = _linears(m)[1]
    assert isinstance(conv1, nn.Conv2d)
    # conv0 → conv1: slabs of conv1 (5 out × 3 × 3) per input channel
    g0 = math.sqrt(5 * 9) * conv1.weight.transpose(0, 1).reshape(4, -1).norm(dim=1).sum()
    # conv1 → dense: each channel owns a 2×2 block of columns (6 out × 4 columns)
    w = dense.weight.view(6, 5, 4)
    g1 = math.sqrt(6 * 4) * torch.stack([w[:, c].norm() for c in range(5)]).sum()
    g2 = math.sqrt(4) * head.weight.norm(dim=0).sum()
    assert torch.allclose(group_penalty(m, lam=1.0), g0 + g1 + g2)


def test_group_penalty_gradient_is_finite_at_zero_columns() -> None:
    m = net("linear")
    with torch.no_grad():
        _linears(m)[0].weight[:, 0] = 0
    group_penalty(m, lam=1.0).backward()
    grad = _linears(m)[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all()


def test_prox_step_soft_thresholds_to_exact_zeros() -> None:
    m = build_model(ModelSpec(kind="linear", in_features=4, out_features=1))
    sw = m.switches()[0]
    with torch.no_grad():
        sw.beta.copy_(torch.tensor([0.5, -0.05, 0.1, -2.0]))
    prox_step(m, lam=0.2, lr=0.5)  # threshold 0.1
    assert torch.allclose(sw.beta.detach(), torch.tensor([0.4, 0.0, 0.0, -1.9]))
    assert (sw.beta.detach()[1:3] == 0).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: shrink_penalty(m, lam=-1.0, lam2=0.0), "lam=-1.0"),
        (lambda m: shrink_penalty(m, lam=0.0, lam2=-0.1), "lam2=-0.1"),
        (lambda m: shrink_penalty(m, lam=0.0, lam2=0.0, p=3), "p=3"),  # type: ignore[arg-type]
        (lambda m: group_penalty(m, lam=float("nan")), "lam=nan"),
        (lambda m: prox_step(m, lam=0.1, lr=-1.0), "lr=-1.0"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call(net("linear"))
