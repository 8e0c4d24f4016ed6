"""The paper's propositions (appendix A.1) checked numerically on the library's own code.

Loss of a single-layer model: ``‖y − A·diag(β)·x‖² + Ω``, computed with the library's
models and penalties (float64).
"""

from __future__ import annotations

import math

import torch
from _nets import data, net
from torch import nn

from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.training.penalties import group_penalty, shrink_penalty

N_IN, N_OUT = 7, 4


def _linear(*, switches: bool = True, seed: int = 0) -> ShrinkNet:
    spec = ModelSpec(kind="linear", in_features=N_IN, out_features=N_OUT, switches=switches,
                     switch_init="uniform")
    return build_model(spec, seed=seed).double()


def _weight(m: ShrinkNet) -> torch.Tensor:
    lin = m.layers[-1]
    assert isinstance(lin, nn.Linear)
    return lin.weight


def _bias(m: ShrinkNet) -> torch.Tensor:
    lin = m.layers[-1]
    assert isinstance(lin, nn.Linear)
    return lin.bias


def _sse(m: ShrinkNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y - m(x)).pow(2).sum()


def test_a3_without_lam2_rescaling_always_lowers_the_loss() -> None:
    m = _linear()
    x, y = data(m)
    lam = 0.5
    loss = _sse(m, x, y) + shrink_penalty(m, lam=lam, lam2=0.0)
    for c in (2.0, 10.0, 1000.0):
        scaled = _linear()
        with torch.no_grad():
            scaled.switches()[0].beta.copy_(m.switches()[0].beta / c)
            _weight(scaled).copy_(_weight(m) * c)
        assert torch.allclose(_sse(scaled, x, y), _sse(m, x, y), atol=1e-9)
        scaled_loss = _sse(scaled, x, y) + shrink_penalty(scaled, lam=lam, lam2=0.0)
        expected_gain = lam * m.switches()[0].beta.abs().sum() * (1 - 1 / c)
        assert scaled_loss < loss
        assert torch.allclose(loss - scaled_loss, expected_gain)
    # with λ₂ > 0 the escape to infinity is blocked: large c raises the loss
    big = _linear()
    with torch.no_grad():
        big.switches()[0].beta.copy_(m.switches()[0].beta / 1000)
        _weight(big).copy_(_weight(m) * 1000)
    penalised = _sse(m, x, y) + shrink_penalty(m, lam=lam, lam2=1e-3)
    assert _sse(big, x, y) + shrink_penalty(big, lam=lam, lam2=1e-3) > penalised


def test_a4_flipping_a_gate_and_its_weights_leaves_the_loss_unchanged() -> None:
    # single layer: β_i and column i of A
    m = _linear()
    x, y = data(m)

    def loss(model: ShrinkNet, p: int = 2) -> torch.Tensor:
        return _sse(model, x, y) + shrink_penalty(model, lam=0.3, lam2=0.1, p=p)  # type: ignore[arg-type]

    before = [loss(m, p) for p in (1, 2)]
    with torch.no_grad():
        for i in (0, 3, 5):
            m.switches()[0].beta[i].neg_()
            _weight(m)[:, i].neg_()
    assert all(torch.allclose(loss(m, p), b, atol=1e-12) for p, b in zip((1, 2), before,
                                                                        strict=True))
    # multi-layer: a hidden gate sits after its producer, so flip β_i with row i and bias i
    deep = net("mlp")
    xd, yd = data(deep)
    deep_before = _sse(deep, xd, yd) + shrink_penalty(deep, lam=0.3, lam2=0.1)
    with torch.no_grad():
        for sw_index, layer_index, i in ((0, 0, 2), (1, 3, 4), (1, 3, 0)):
            deep.switches()[sw_index].beta[i].neg_()
            producer = deep.layers[layer_index]
            assert isinstance(producer, nn.Linear)
            producer.weight[i].neg_()
            producer.bias[i].neg_()
    deep_after = _sse(deep, xd, yd) + shrink_penalty(deep, lam=0.3, lam2=0.1)
    assert torch.allclose(deep_after, deep_before, atol=1e-12)


def test_a1_with_unit_norm_columns_the_two_penalties_agree() -> None:
    lam = 0.7
    # ShrinkNet side: A' with unit-norm columns and any β
    gated = _linear(seed=1)
    with torch.no_grad():
        _weight(gated).div_(_weight(gated).norm(dim=0, keepdim=True))
    assert torch.allclose(_weight(gated).norm(dim=0), torch.ones(N_IN, dtype=torch.float64))
    # group-sparsity side: the static model with A = A'·diag(β)
    static = _linear(switches=False)
    beta = gated.switches()[0].beta.detach()
    with torch.no_grad():
        _weight(static).copy_(_weight(gated) * beta)
        _bias(static).copy_(_bias(gated))
    x, y = data(gated)
    assert torch.allclose(static(x), gated(x), atol=1e-12)
    # Ω^gp embeds √#θᵢ = √n in λ (paper eq. 4), hence lam / √n here
    omega_gp = group_penalty(static, lam=lam / math.sqrt(N_OUT))
    omega_rs = shrink_penalty(gated, lam=lam, lam2=0.0)
    assert torch.allclose(omega_gp, omega_rs, atol=1e-12)

    # and the converse: any A gives β_j = ‖A_j‖ and unit-norm A' = A·diag(β)⁻¹
    static2 = _linear(switches=False, seed=2)
    a = _weight(static2).detach()
    gated2 = _linear(seed=2)
    with torch.no_grad():
        gated2.switches()[0].beta.copy_(a.norm(dim=0))
        _weight(gated2).copy_(a / a.norm(dim=0))
        _bias(gated2).copy_(_bias(static2))
    total_gp = _sse(static2, x, y) + group_penalty(static2, lam=lam / math.sqrt(N_OUT))
    total_rs = _sse(gated2, x, y) + shrink_penalty(gated2, lam=lam, lam2=0.0)
    assert torch.allclose(total_gp, total_rs, atol=1e-10)
