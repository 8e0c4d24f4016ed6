"""Regularisers: the (regularised) ShrinkNet penalty, group sparsity, and a prox step on β.

- :func:`shrink_penalty` Ω^rs = λ‖β‖₁ + λ₂‖θ‖ₚᵖ (θ: Linear/Conv weights; no switches,
  norms or biases). λ₂ > 0 is what gives the problem a minimum (paper Prop. A.3/A.4).
- :func:`group_penalty` Ω^gp = λ Σᵢ √#θᵢ ‖θᵢ‖₂, θᵢ = the consumer weights fed by
  neuron/input ``i`` of every group (a whole ``out × block`` or ``out × k × k`` slab).
- :func:`prox_step` soft-thresholds β after a plain SGD step on λ‖β‖₁'s smooth part,
  which yields exact zeros.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.network.switches import Switch

__all__ = ["group_penalty", "penalised_weights", "prox_lambda_max", "prox_step", "shrink_penalty"]


def _check_lam(name: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{name}={value} is invalid; it must be >= 0")


def _zero(model: nn.Module) -> Tensor:
    p = next(model.parameters())
    return torch.zeros((), dtype=p.dtype, device=p.device)


def penalised_weights(model: nn.Module) -> list[Tensor]:
    """The θ of λ₂‖θ‖ₚᵖ: weights of every Linear/Conv layer (biases, β, norms excluded)."""
    return [
        m.weight for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)
    ]


def shrink_penalty(model: nn.Module, *, lam: float, lam2: float, p: Literal[1, 2] = 2) -> Tensor:
    """Ω^rs = λ Σ|β| + λ₂ Σ|θ|ᵖ.

    Args:
        model: a network with switches (without, only the λ₂ term remains).
        lam: λ ≥ 0 on the switches.
        lam2: λ₂ ≥ 0 on the non-switch weights.
        p: 1 or 2.

    Returns:
        A scalar tensor on the model's device (differentiable).

    Raises:
        ConfigError: for a negative λ/λ₂ or ``p`` not in {1, 2}.
    """
    _check_lam("lam", lam)
    _check_lam("lam2", lam2)
    if p not in (1, 2):
        raise ConfigError(f"p={p} is invalid; use 1 or 2")
    total = _zero(model)
    if lam > 0:
        for sw in model.modules():
            if isinstance(sw, Switch):
                total = total + lam * sw.beta.abs().sum()
    if lam2 > 0:
        for w in penalised_weights(model):
            # one fused reduction per tensor (cheaper than abs/pow then sum)
            norm = torch.linalg.vector_norm(w, ord=p)
            total = total + lam2 * (norm if p == 1 else norm.square())
    return total


def group_penalty(model: ShrinkNet, *, lam: float) -> Tensor:
    """Ω^gp = λ Σ_groups Σᵢ √#θᵢ ‖θᵢ‖₂ over the consumer columns of every group.

    For linear/logistic models the groups are the input columns of ``A``; for MLPs and
    CNNs the hidden neurons (a conv channel's slab is ``out × k × k``, or ``out × H·W``
    after Flatten). Rows of a consumer that feed dead neurons (``alive`` False in the
    next switch) are left out of the norms: they are removed as soon as removal runs,
    so the penalty — and training — is the same before and after physical removal.

    Raises:
        ConfigError: for a negative λ.
    """
    _check_lam("lam", lam)
    total = _zero(model)
    if lam == 0:
        return total
    groups = model.groups()
    row_alive = {id(g.producer): g.switch.alive for g in groups if g.switch is not None}
    for g in groups:
        w = g.consumer.weight
        assert isinstance(w, Tensor)
        if w.dim() == 2:  # Linear (out, width·block) → (out, width, block)
            per_row = g.block
            slabs = w.view(w.shape[0], -1, g.block).transpose(0, 1)
        else:  # Conv (out, width, kh, kw)
            per_row = w.shape[2] * w.shape[3]
            slabs = w.transpose(0, 1)
        alive = row_alive.get(id(g.consumer))
        size: Tensor | int = w.shape[0] * per_row
        if alive is not None:  # mask rather than test, to avoid a device sync
            slabs = slabs * alive.view([1, -1] + [1] * (slabs.dim() - 2))
            size = alive.sum().to(w.dtype) * per_row
        norms = torch.linalg.vector_norm(slabs.reshape(slabs.shape[0], -1), dim=1)
        total = total + lam * (size**0.5) * norms.sum()
    return total


def prox_step(model: nn.Module, *, lam: float, lr: float) -> None:
    """Soft-threshold every β in place: ``β ← sign(β)·max(|β| − lr·lam, 0)``.

    Call after the optimizer step that moved β by plain SGD with learning rate ``lr`` on
    the loss without the λ‖β‖₁ term; the result is the proximal step of λ‖β‖₁.

    Raises:
        ConfigError: for a negative ``lam`` or ``lr``.
    """
    _check_lam("lam", lam)
    _check_lam("lr", lr)
    threshold = lr * lam
    if threshold == 0:
        return
    with torch.no_grad():
        for sw in model.modules():
            if isinstance(sw, Switch):
                beta = sw.beta
                beta.copy_(torch.sign(beta) * torch.clamp(beta.abs() - threshold, min=0.0))


_OFF = 1e-6


def prox_lambda_max(
    model: ShrinkNet,
    x: Tensor,
    y: Tensor,
    *,
    classify: bool,
    penalty_weight: str = "uniform",
) -> float:
    """The smallest λ of the plain proximal step that keeps a whole layer switched off.

    As glmnet's λ_max: with layer ℓ's β all at 0, the soft threshold keeps β_i at 0 while
    ``|∂L/∂β_i| ≤ λ·w_ℓ`` (``w_ℓ`` the layer's price, 1 unless ``penalty_weight`` prices
    neurons). So ``max_i |∂L/∂β_i| / w_ℓ`` at β_ℓ → 0 (taken at ``|β| = 1e-6`` on each
    neuron's own side, since ReLU's derivative at exactly 0 is 0) is where layer ℓ stops
    coming back,
    and the maximum over layers is the λ at which the network collapses (to first order,
    the other layers as they are). Evaluated in eval mode on ``(x, y)``; the model is left
    as it was.

    Returns:
        λ_max (> 0; a tiny positive floor when every gradient vanishes).
    """
    from shrinknets_core.network.pricing import neuron_prices
    from shrinknets_core.training._evaluate import data_loss

    prices = neuron_prices(model, penalty_weight)
    was_training = model.training
    model.eval()
    top = 0.0
    try:
        for sw, price in zip(model.switches(), prices, strict=True):
            saved = sw.beta.detach().clone()
            with torch.no_grad():  # β → 0 from its own side: ReLU'(0) = 0 would hide it
                sw.beta.copy_(torch.where(saved < 0, -_OFF, _OFF))
            model.zero_grad(set_to_none=True)
            data_loss(model(x), y, classify=classify).backward()
            grad = sw.beta.grad
            if grad is not None:
                top = max(top, float(grad.abs().max()) / price)
            with torch.no_grad():
                sw.beta.copy_(saved)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return max(top, 1e-12)
