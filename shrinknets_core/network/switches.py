"""Switches: one learnable gate β per neuron (or conv channel, or model input).

A :class:`Switch` multiplies the feature dimension (dim 1) of its input by β, so
zeroing ``β_i`` silences neuron ``i`` for everything downstream; the penalty
λ‖β‖₁ (:mod:`shrinknets_core.training.penalties`) drives unneeded gates to zero and a dead
rule (:mod:`shrinknets_core.removal.dead`) then marks them dead in the ``alive`` buffer
until :func:`shrinknets_core.removal._remove.remove_dead` removes them physically.

The forward pass multiplies by ``β · alive``: a dead neuron outputs exactly zero
whatever its stored β (e.g. while an optimizer's momentum still moves it), so a
masked wide network and its physically shrunk copy compute the same function.

A settled switch can be **frozen** (:meth:`Switch.freeze`, done by the trainer once a layer
has lost no neuron for ``TrainConfig.freeze_after_steps`` steps): its gate becomes a
constant, so β leaves autograd, the β step and the dead rule, and the forward pass
multiplies by the very same values (outputs bit-identical). Folding the gate into the
consumer's weights would save the multiply too, but changes the products' rounding
(``W·(β·h)`` against ``(W·β)·h``), so it is left to export (``shrinknets_core.removal.fold``).
Networks only shrink, so a frozen switch is never unfrozen.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError

__all__ = ["InputSwitch", "Switch", "SwitchInit"]

SwitchInit = Literal["ones", "uniform", "normal"]
_INITS = ("ones", "uniform", "normal")


class Switch(nn.Module):
    """Per-feature gate ``S(h)_i = β_i · h_i`` (per channel for conv feature maps).

    Args:
        num_features: number of neurons/channels gated (≥ 1).
        init: initial β — ``"ones"``, ``"uniform"`` (U(−1, 1)) or ``"normal"`` (N(0, 1)).
        conv: whether inputs are ``(N, C, H, W)`` feature maps (β broadcasts per channel).
            Inputs of any rank ≥ 2 are handled either way; the flag documents intent.

    Attributes:
        beta: parameter of shape ``(num_features,)``.
        alive: bool buffer ``(num_features,)``; False = killed by a dead rule (β held at
            0) but not yet physically removed.

    Raises:
        ConfigError: if ``num_features < 1`` or ``init`` is unknown.
    """

    beta: nn.Parameter
    alive: Tensor
    frozen_gate: Tensor | None

    def __init__(self, num_features: int, *, init: SwitchInit = "ones", conv: bool = False):
        super().__init__()
        if num_features < 1:
            raise ConfigError(f"Switch num_features={num_features} is invalid; it must be >= 1")
        if init not in _INITS:
            raise ConfigError(f"Switch init={init!r} is unknown; use one of {list(_INITS)}")
        if init == "ones":
            beta = torch.ones(num_features)
        elif init == "uniform":
            beta = torch.empty(num_features).uniform_(-1.0, 1.0)
        else:
            beta = torch.randn(num_features)
        self.init = init
        self.conv = conv
        self.beta = nn.Parameter(beta)
        self.register_buffer("alive", torch.ones(num_features, dtype=torch.bool))
        # not in state_dict: the trainer's state lists frozen switches and re-freezes them
        self.register_buffer("frozen_gate", None, persistent=False)

    @property
    def frozen(self) -> bool:
        """Whether :meth:`freeze` made the gate a constant."""
        return self.frozen_gate is not None

    def freeze(self) -> None:
        """Hold the gate at its current value ``β · alive`` from now on (module docstring).

        β stops requiring gradients (its gradient is dropped); the forward pass multiplies
        by the same values, so outputs are bit-identical. Idempotent.
        """
        if self.frozen_gate is not None:
            return
        self.beta.requires_grad_(False)
        self.beta.grad = None
        self.frozen_gate = self.gate().detach().clone()

    @property
    def num_features(self) -> int:
        """Current (physically present) number of gated features."""
        return int(self.beta.shape[0])

    def gate(self) -> Tensor:
        """The effective gate ``β · alive``, shape ``(num_features,)``."""
        return self.beta * self.alive

    def forward(self, x: Tensor) -> Tensor:
        """Multiply dim 1 of ``x`` (shape ``(N, F)`` or ``(N, C, H, W)``) by the gate."""
        shape = [1, -1] + [1] * (x.dim() - 2)
        return x * self._forward_gate().view(shape)

    def _forward_gate(self) -> Tensor:
        return self.frozen_gate if self.frozen_gate is not None else self.gate()

    def extra_repr(self) -> str:
        return f"{self.num_features}, init={self.init!r}, conv={self.conv}"


class InputSwitch(Switch):
    """A :class:`Switch` on the inputs of a single-layer model: ``f(x) = a(A·diag(β)·x + b)``.

    Removing an input shrinks the model's first layer, but the model keeps accepting
    full-width inputs: the buffer ``index`` (int64, ``(num_features,)``) holds the original
    column of each input still present, and the forward pass selects those columns first.

    Args:
        num_features: number of model inputs gated (≥ 1).
        init: initial β, as for :class:`Switch`.
    """

    index: Tensor

    def __init__(self, num_features: int, *, init: SwitchInit = "ones"):
        super().__init__(num_features, init=init, conv=False)
        self.in_features = num_features
        self.register_buffer("index", torch.arange(num_features, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        """Select the present input columns of ``x`` ``(N, in_features)`` and gate them."""
        if self.num_features != self.in_features:
            x = x.index_select(1, self.index)
        return x * self._forward_gate()
