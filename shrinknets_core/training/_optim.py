"""Optimizer construction for the trainer: one optimizer for the weights, a proximal step for β.

Why β gets its own update (docs/method.md §3, "Measured pitfall"): Adam normalises every
parameter's step to about ``lr`` whatever the gradient's size, so with β inside Adam the
penalty λ‖β‖₁ stops controlling how fast β shrinks and a λ search stops controlling size.
With ``beta_optimizer="prox"`` β is updated by plain SGD on the *data* gradient with its own
learning rate ``beta_lr`` and then soft-thresholded by ``beta_lr·λ`` (``prox_step``): a β
whose data gradient stays below λ in magnitude is driven to exactly 0 at a rate ``beta_lr·λ``
per step, so λ sets the equilibrium (which neurons survive) and ``beta_lr`` the speed.

Plain SGD is unstable at a large ``beta_lr``: once the net is narrow, β's data gradients grow
and β ran away (|β| reached 1e5 and accuracy fell to chance; docs/method.md §3). ``beta_max``
therefore projects β onto the box ``|β| ≤ beta_max`` after the prox (the projected proximal
gradient step): by Prop. A.3 a neuron's scale can move from β into the weights it feeds
(paid by λ₂), so the box restricts no function the net can compute, and the prox's exact
zeros are kept. ``beta_max=None`` is the plain, unbounded step.

The data gradient of β is tiny while the net is still untrained (~1e-4 per neuron for a
fresh 2×256 MLP), so any λ large enough to matter killed every neuron in the first
~20 steps, before the weights learnt anything: a λ search saw all-dead nets or barely
shrunk ones, nothing between. ``lam_scale="grad"`` makes the step scale-free per layer.
With ``g`` the data gradient of layer ℓ's ``n`` live β in this batch and ``r = ‖g‖₂/√n``
its root-mean-square::

    β ← soft(β − beta_lr·g/r, beta_lr·λ·√n)

— prox-SGD with the per-layer step ``beta_lr/r`` and penalty ``λ·‖g‖₂``: a neuron survives
while it carries at least a share λ of its layer's gradient norm (``|g_i| ≥ λ‖g‖₂``). λ is
dimensionless, in (0, 1): with ``n`` neurons pulling equally each has share ``1/√n``, so a
layer settles near ``1/λ²`` live neurons whatever its initial width and the loss's scale,
and λ acts from the first steps (the untrained net's tiny gradients no longer matter).
``beta_lr`` is how far β moves per step. The price per survivor falls as the layer narrows
(``√n``), so each λ has a stable width — normalising the threshold by the live RMS alone,
λ·r, no λ that kills anything ever stops killing; and the step stays ~``beta_lr`` per
step (normalising the step by the gradient over the *built* width instead made the random
kicks on the last few survivors grow and knocked them to 0: 1024 → 1 in 10 epochs).
Unlike Adam's per-parameter normalisation (docs/method.md §3), one scale per layer keeps the
neurons' relative gradients, so λ still controls size. The step uses only the current
batch (no state), so a resumed run continues exactly.
``lam_scale="none"`` is the plain step: threshold ``beta_lr·λ`` on the raw gradient.

BatchNorm makes λ ill-posed without more: when a BatchNorm normalises the output of a
switch's consumer, ``β_ℓ → c·β_ℓ`` leaves the loss unchanged in training mode (the batch
statistics absorb c), so λ‖β_ℓ‖₁ shrinks every β of the layer at exactly ``beta_lr·λ`` per
step with no resistance from the data (measured on the digits CNN: |β| of the first conv
layer fell 0.899, 0.799, … 0.122 linearly) and the widths record λ × steps, not the data.
``pin_scale`` (on by default) removes that free direction: after each step such a layer's β
is divided by its largest live |β|, so ``max|β_ℓ| = 1``. The loss is the same function of
the direction ``β_ℓ/‖β_ℓ‖∞`` (for that layer the problem *is* scale-free), and the penalty is
now λ‖β_ℓ‖₁ on the set ``‖β_ℓ‖∞ = 1``: a continuous function on a compact set, so it has a
minimum, and a neuron survives only while the data gradient of its *relative* size outweighs
λ. In evaluation mode the BatchNorm's running statistics follow the rescaled inputs within a
few batches (momentum 0.1); each rescale is a step's worth of change.

``penalty_weight`` prices neurons (``shrinknets_core.network.pricing``): layer ℓ's threshold is
multiplied by its per-neuron price ``w_ℓ`` (plain step: λ is then the price of one
parameter or MAC) or, for the layer-normalised step whose λ is a dimensionless share, by
``w_ℓ / mean_ℓ w_ℓ`` (a relatively expensive layer must carry a larger share). Prices are
recomputed at every :meth:`BetaProx.refresh`, i.e. after every removal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.network.pricing import neuron_prices
from shrinknets_core.training.penalties import penalised_weights

__all__ = [
    "BetaProx",
    "ShrinkPenaltyGrad",
    "build_main_optimizer",
    "switch_parameters",
    "weight_parameters",
]

OPTIMIZERS = ("adam", "sgd", "adamw", "adagrad")
LAM_SCALES = ("none", "grad")
_TINY = 1e-12  # a layer whose β all have zero gradient takes no gradient step


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
    """Plain SGD on every switch β, the soft threshold ``lr·lam`` (exact zeros), then the box.

    ``beta_max`` (``None`` = no box) bounds ``|β|`` after every step; ``lam_scale="grad"``
    divides each layer's gradient step by its RMS data gradient (module docstring).

    SGD without momentum keeps no per-parameter state, so after a physical removal the
    trainer only has to call :meth:`refresh` to pick up the sliced β tensors.
    """

    model: ShrinkNet
    lr: float
    lam: float
    beta_max: float | None = None
    lam_scale: str = "none"
    penalty_weight: str = "uniform"
    pin_scale: bool = True
    layer_scales: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.lam_scale not in LAM_SCALES:
            raise ValueError(f"lam_scale={self.lam_scale!r} is not one of {LAM_SCALES}")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the switches' β (removal replaces them with sliced parameters; frozen
        switches leave the step) and reprice the layers (``penalty_weight``)."""
        switches = self.model.switches()
        prices = neuron_prices(self.model, self.penalty_weight)
        if self.lam_scale == "grad" and prices:
            mean = sum(prices) / len(prices)
            prices = [p / mean for p in prices]
        if self.layer_scales is not None:
            if len(self.layer_scales) != len(prices):
                raise ConfigError(
                    f"lam_layer_scales has {len(self.layer_scales)} factor(s) for a network "
                    f"of {len(prices)} switched layer(s); give one per layer"
                )
            prices = [p * s for p, s in zip(prices, self.layer_scales, strict=True)]
        free = self.model.scale_free_switches()
        live = [i for i, sw in enumerate(switches) if not sw.frozen]
        self._switches = [switches[i] for i in live]
        self._betas: list[torch.Tensor] = [sw.beta for sw in self._switches]
        self._prices = [prices[i] for i in live]
        self._pinned = [free[i] and self.pin_scale for i in live]

    def zero_grad(self) -> None:
        """Drop β's gradients (set to ``None``, like ``Optimizer.zero_grad``)."""
        for beta in self._betas:
            beta.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """β ← clip(soft(β − lr·g/r, lr·λ·w·s), ±beta_max), then ÷ max|β| where pinned.

        ``r = 1, s = 1`` unless ``lam_scale="grad"`` (``r`` the layer's RMS gradient,
        ``s = √n_live``); ``w`` the layer's price (``penalty_weight``; relative for
        ``"grad"``); pinned layers are those a BatchNorm follows (``pin_scale``).

        Every live switch at once: the gradient step, the soft threshold and the box are
        fused ``torch._foreach_*`` ops (the same values, bit for bit, as one switch at a
        time); only ``lam_scale="grad"``'s per-layer scale and the pinning loop over layers.
        Tensors throughout: no host sync.
        """
        betas: list[torch.Tensor] = self._betas
        if not betas:
            return
        base = [self.lr * self.lam * price for price in self._prices]
        thresholds: list[torch.Tensor] = []  # lam_scale="grad": per layer, on the device
        if self.lam_scale == "grad":
            for sw, t in zip(self._switches, base, strict=True):
                live = sw.alive.sum().clamp(min=1)
                thresholds.append(live.sqrt() * t)
                grad = sw.beta.grad
                if grad is not None:
                    rms = ((grad * grad * sw.alive).sum() / live).sqrt()
                    sw.beta.addcdiv_(grad, rms.clamp(min=_TINY), value=-self.lr)
        else:
            stepped = [b for b in betas if b.grad is not None]
            if stepped:
                grads: list[torch.Tensor] = [b.grad for b in stepped if b.grad is not None]
                torch._foreach_add_(stepped, grads, alpha=-self.lr)
        if self.lam > 0.0:
            magnitude = torch._foreach_abs(betas)
            if self.lam_scale == "grad":
                for m, threshold in zip(magnitude, thresholds, strict=True):
                    m.sub_(threshold)
            else:
                torch._foreach_sub_(magnitude, base)
            torch._foreach_clamp_min_(magnitude, 0.0)
            torch._foreach_mul_(magnitude, torch._foreach_sign(betas))
            torch._foreach_copy_(betas, magnitude)
        if self.beta_max is not None:
            torch._foreach_clamp_min_(betas, -self.beta_max)
            torch._foreach_clamp_max_(betas, self.beta_max)
        for sw, pinned in zip(self._switches, self._pinned, strict=True):
            if pinned:  # max live |β| = 1 (module docstring); a dead layer stays at 0
                top = (sw.beta.abs() * sw.alive).max()
                sw.beta.div_(torch.where(top > 0, top, torch.ones_like(top)))


@dataclass
class ShrinkPenaltyGrad:
    """Adds the gradient of Ω^rs = λ‖β‖₁ + λ₂‖θ‖ₚᵖ to ``.grad`` in place, after backward.

    The same penalty as :func:`~shrinknets_core.training.penalties.shrink_penalty` (θ from
    :func:`~shrinknets_core.training.penalties.penalised_weights`), differentiated by hand: ``2λ₂θ``
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
        self._betas: list[torch.Tensor] = [
            sw.beta for sw in self.model.switches() if not sw.frozen
        ]

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
