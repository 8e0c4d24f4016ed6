"""Fitting single-layer models to convergence for the §6.1 loss/sparsity trade-off.

Both methods are solved full-batch, so the comparison is between the *penalties*, not
between minibatch noise:

- **ShrinkNets** (paper eq. 7): ``min ‖y − A·diag(β)·x‖² + λ‖β‖₁ + λ₂‖A‖²`` on the core's
  input-gated model. A and b take Adam steps with a cosine-decayed learning rate on the
  smooth part (``shrink_penalty(lam=0, lam2)``); β takes a plain gradient step followed by
  the core's :func:`~shrinknets_core.training.penalties.prox_step`, so unused inputs get
  β = 0 exactly.
- **Group sparsity** (paper eq. 6, the core's Ω^gp scale ``λ·√#θᵢ·‖θᵢ‖₂``): the core's
  ``group_penalty`` is a subgradient penalty that never makes exact zeros, so this module
  solves the convex problem with FISTA and the proximal group soft-threshold
  ``Aⱼ ← Aⱼ·max(0, 1 − step·λ·√n / ‖Aⱼ‖)`` (step = 1/L, L the loss's Lipschitz constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from shrinknets_core.datasets import Dataset
from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.training.penalties import prox_step, shrink_penalty

__all__ = ["SingleFit", "data_loss", "fit_group_lasso", "fit_shrinknet", "group_lambda_max"]


@dataclass(frozen=True)
class SingleFit:
    """One converged fit: the effective weight ``W`` (out × in, β folded in) and bias."""

    weight: Tensor
    bias: Tensor
    steps: int


def data_loss(data: Dataset, weight: Tensor, bias: Tensor, *, split: str = "train") -> Tensor:
    """Mean squared error (regression, standardised targets) or cross-entropy of ``x·Wᵀ + b``.

    Raises:
        ValueError: ``split`` is not train/val/test.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split={split!r} is unknown; use 'train', 'val' or 'test'")
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    out = x @ weight.T + bias
    if data.task == "classification":
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y)


def _lipschitz(data: Dataset) -> float:
    """Lipschitz constant of the mean loss's gradient in (A, b) (bias as a column of ones)."""
    x = data.x_train
    n = x.shape[0]
    aug = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], dim=1)
    sigma = float(torch.linalg.matrix_norm(aug, ord=2))
    if data.task == "classification":
        return sigma**2 / (2.0 * n)  # softmax cross-entropy Hessian ⪯ ½·I per sample
    return 2.0 * sigma**2 / (n * data.n_outputs)


def _intercept_only(data: Dataset) -> Tensor:
    """The optimal bias of the all-zero weight (class log-frequencies, or target means)."""
    if data.task == "classification":
        counts = torch.bincount(data.y_train, minlength=data.n_outputs).float() + 1.0
        return torch.log(counts / counts.sum())
    return data.y_train.mean(dim=0)


def group_lambda_max(data: Dataset) -> float:
    """Smallest group-sparsity λ for which every column of A is zero at the optimum."""
    weight = torch.zeros(data.n_outputs, data.n_features, requires_grad=True)
    loss = data_loss(data, weight, _intercept_only(data))
    (grad,) = torch.autograd.grad(loss, [weight])
    return float(grad.norm(dim=0).max()) / math.sqrt(data.n_outputs)


def fit_group_lasso(data: Dataset, *, lam: float, steps: int, tol: float = 1e-7) -> SingleFit:
    """Solve the group-sparsity problem with FISTA and exact group soft-thresholding.

    Args:
        data: The dataset (train split is fitted).
        lam: λ of ``λ Σⱼ √n ‖Aⱼ‖₂`` (n = outputs; the core's ``group_penalty`` scale).
        steps: Maximum FISTA iterations.
        tol: Stop when the relative change of A falls below this.

    Returns:
        The fitted weight (exact zero columns where the penalty removed an input) and bias.
    """
    step = 1.0 / _lipschitz(data)
    threshold = step * lam * math.sqrt(data.n_outputs)
    w = torch.zeros(data.n_outputs, data.n_features)
    b = _intercept_only(data).clone()
    wy, by, t = w.clone(), b.clone(), 1.0
    done = 0
    for done in range(1, steps + 1):
        wy.requires_grad_(True)
        by.requires_grad_(True)
        gw, gb = torch.autograd.grad(data_loss(data, wy, by), [wy, by])
        with torch.no_grad():
            w_new = wy - step * gw
            norms = w_new.norm(dim=0).clamp_min(1e-30)
            w_new = w_new * torch.clamp(1.0 - threshold / norms, min=0.0)
            b_new = by - step * gb
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            momentum = (t - 1.0) / t_new
            wy = w_new + momentum * (w_new - w)
            by = b_new + momentum * (b_new - b)
            change = float((w_new - w).norm()) / max(float(w_new.norm()), 1e-12)
            w, b, t = w_new, b_new, t_new
        if change < tol and done > 10:
            break
    return SingleFit(w.detach(), b.detach(), done)


def _layers(model: ShrinkNet) -> tuple[nn.Parameter, nn.Linear]:
    switches = model.switches()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(switches) != 1 or len(linears) != 1:
        raise ValueError(
            f"expected a single-layer model (1 switch, 1 Linear), got {len(switches)} "
            f"switches and {len(linears)} Linear layers; use kind='linear' or 'logistic'"
        )
    return switches[0].beta, linears[0]


def fit_shrinknet(
    data: Dataset,
    *,
    lam: float,
    lam2: float,
    steps: int,
    lr: float,
    beta_lr: float,
    seed: int = 0,
) -> SingleFit:
    """Fit the regularised ShrinkNet (paper eq. 7) on the core's input-gated model.

    Args:
        data: The dataset (train split is fitted, full batch).
        lam: λ on ‖β‖₁ (applied by the proximal step).
        lam2: λ₂ on ‖A‖₂² (smooth, in the gradient).
        steps: Full-batch iterations.
        lr: Adam learning rate of A and b (cosine-decayed to 0 over ``steps``).
        beta_lr: β's gradient/prox step size (constant).
        seed: Model initialisation seed.

    Returns:
        The effective weight ``A·diag(β)`` (exact zero columns where β = 0) and bias.
    """
    kind: Literal["linear", "logistic"] = (
        "logistic" if data.task == "classification" else "linear"
    )
    model = build_model(
        ModelSpec(kind=kind, in_features=data.n_features, out_features=data.n_outputs),
        seed=seed,
    )
    beta, linear = _layers(model)
    weights = [p for p in model.parameters() if p is not beta]
    opt = torch.optim.Adam(weights, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    x, y = data.x_train, data.y_train
    loss_fn = F.cross_entropy if data.task == "classification" else F.mse_loss
    switch = model.switches()[0]
    for _ in range(steps):
        # x·(A·diag(β))ᵀ + b is the model's forward with the product taken on the small
        # weight instead of the (rows × features) input: the same function and gradients.
        out = F.linear(x, linear.weight * switch.gate(), linear.bias)
        loss = loss_fn(out, y) + shrink_penalty(model, lam=0.0, lam2=lam2)
        opt.zero_grad()
        beta.grad = None
        loss.backward()
        opt.step()
        schedule.step()
        with torch.no_grad():
            assert beta.grad is not None
            beta -= beta_lr * beta.grad
        prox_step(model, lam=lam, lr=beta_lr)
    with torch.no_grad():
        weight = linear.weight * switch.gate()
        bias = linear.bias.clone()
        check = slice(0, 256)
        if not torch.allclose(model(x[check]), x[check] @ weight.T + bias, atol=1e-4):
            raise AssertionError("the core model's forward is not A·diag(β)·x + b")
    return SingleFit(weight.detach().clone(), bias.detach(), steps)
