"""Optimizer construction for the trainer: one optimizer for the weights, a proximal step for β.

Why β gets its own update (DESIGN.md §1, "Measured pitfall"): Adam normalises every
parameter's step to about ``lr`` whatever the gradient's size, so with β inside Adam the
penalty λ‖β‖₁ stops controlling how fast β shrinks and a λ search stops controlling size.
With ``beta_optimizer="prox"`` β is updated by plain SGD on the *data* gradient with its own
learning rate ``beta_lr`` and then soft-thresholded by ``beta_lr·λ`` (``prox_step``): a β
whose data gradient stays below λ in magnitude is driven to exactly 0 at a rate ``beta_lr·λ``
per step, so λ sets the equilibrium (which neurons survive) and ``beta_lr`` the speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from shrinknets_core.models import ShrinkNet
from shrinknets_core.penalties import penalised_weights, prox_step

__all__ = [
    "BetaProx",
    "ShrinkPenaltyGrad",
    "build_main_optimizer",
    "switch_parameters",
    "weight_parameters",
]

OPTIMIZERS = ("adam", "sgd", "adamw", "adagrad")


def switch_parameters(model: ShrinkNet) -> list[nn.Parameter]:
    """Return every switch's β, in the model's switch order."""
    return [sw.beta for sw in model.switches()]


def weight_parameters(model: ShrinkNet) -> list[nn.Parameter]:
    """Return every parameter that is not a switch β (weights, biases, norm affine)."""
    betas = {id(p) for p in switch_parameters(model)}
    return [p for p in model.parameters() if id(p) not in betas]


def build_main_optimizer(
    name: str,
    params: Iterable[nn.Parameter],
    *,
    lr: float,
    momentum: float,
) -> torch.optim.Optimizer:
    """Build the optimizer for the weights (and for β when ``beta_optimizer="same"``).

    Args:
        name: ``"adam"``, ``"sgd"`` (heavy-ball momentum ``momentum``), ``"adamw"`` (torch's
            default decoupled weight decay 0.01, in addition to the λ₂ penalty) or ``"adagrad"``.
        params: the parameters to optimize.
        lr: learning rate.
        momentum: SGD momentum (ignored by the others).

    Returns:
        A torch optimizer; ``remove_dead`` slices its per-parameter state on removal.

    Raises:
        ValueError: unknown ``name`` (``TrainConfig`` validates this earlier).
    """
    plist = list(params)
    if name == "adam":
        return torch.optim.Adam(plist, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(plist, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(plist, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(plist, lr=lr)
    raise ValueError(f"optimizer={name!r} is not one of {OPTIMIZERS}")


@dataclass
class BetaProx:
    """Plain SGD on every switch β followed by the soft threshold ``lr·lam`` (exact zeros).

    SGD without momentum keeps no per-parameter state, so after a physical removal the
    trainer only has to call :meth:`refresh` to pick up the sliced β tensors.
    """

    model: ShrinkNet
    lr: float
    lam: float

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-read the switches' β (removal replaces them with sliced parameters)."""
        self._betas = switch_parameters(self.model)

    def zero_grad(self) -> None:
        """Drop β's gradients (set to ``None``, like ``Optimizer.zero_grad``)."""
        for beta in self._betas:
            beta.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """β ← soft(β − lr·∂L/∂β, lr·λ): one SGD step on the data loss, then the prox."""
        for beta in self._betas:
            if beta.grad is not None:
                beta.add_(beta.grad, alpha=-self.lr)
        if self.lam > 0.0:
            prox_step(self.model, lam=self.lam, lr=self.lr)


@dataclass
class ShrinkPenaltyGrad:
    """Adds the gradient of Ω^rs = λ‖β‖₁ + λ₂‖θ‖ₚᵖ to ``.grad`` in place, after backward.

    The same penalty as :func:`~shrinknets_core.penalties.shrink_penalty` (θ from
    :func:`~shrinknets_core.penalties.penalised_weights`), differentiated by hand: ``2λ₂θ``
    (p = 2) or ``λ₂·sign(θ)`` (p = 1), and ``λ·sign(β)`` — a few fused ``_foreach`` ops
    instead of building and back-propagating a penalty graph at every step.
    ``lam_beta`` is 0 when β gets the proximal step instead.
    """

    model: ShrinkNet
    lam_beta: float
    lam2: float
    p: int

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-read the parameters (removal replaces them with sliced ones)."""
        self._weights: list[torch.Tensor] = penalised_weights(self.model)
        self._betas: list[torch.Tensor] = list(switch_parameters(self.model))

    @torch.no_grad()
    def add_grad(self) -> None:
        """``grad += ∂Ω/∂param`` for every penalised weight and (``lam_beta > 0``) every β."""
        if self.lam2 > 0 and self._weights:
            grads = _grads(self._weights)
            if self.p == 2:
                torch._foreach_add_(grads, self._weights, alpha=2.0 * self.lam2)
            else:
                torch._foreach_add_(grads, torch._foreach_sign(self._weights), alpha=self.lam2)
        if self.lam_beta > 0 and self._betas:
            grads = _grads(self._betas)
            torch._foreach_add_(grads, torch._foreach_sign(self._betas), alpha=self.lam_beta)


def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    return [p.grad for p in params if p.grad is not None]
