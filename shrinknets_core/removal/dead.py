"""Dead-neuron rules: decide, after every optimizer step, which neurons are dead for good.

A dead neuron has ``switch.alive[i] = False`` and ``β_i = 0`` from then on (the rule
re-zeroes β at every :meth:`DeadRule.update`, and :class:`~shrinknets_core.network.switches.Switch`
masks it in the forward pass); it never revives. Physical removal
(:func:`shrinknets_core.removal._remove.remove_dead`) later drops it and calls
:meth:`DeadRule.keep_neurons` so per-neuron state stays aligned. The rules never kill a
layer's last alive neuron when built with ``keep_last=True`` (the trainer's default, via
``TrainConfig.keep_last_alive``): the strongest ``|β|`` survives, so no layer collapses to
width 0 (without it, removal keeps that neuron physically but dead: reported width 0).

**Sign-variance** (docs/method.md §4): per neuron ``mean ← sign(β₀)``, ``var ← 0``; after each
step, with ``s = sign(β)``: ``var ← γ·var + (1−γ)(s − mean)²``, then
``mean ← γ·mean + (1−γ)·s``; ``var > 0.5`` ⇒ dead.

*β exactly 0* (a proximal step parked it there): ``sign(0) = 0`` would leave ``var``
below ``0.25/γ`` forever, so a parked neuron would never die. We count ``β = 0`` as the
sign opposite to the running mean (``s = −sign(mean)``): being parked at zero is leaving
the current sign. Hence with γ = 0 a prox-zeroed β dies at once, and with γ = 0.99 a β
that stays at 0 dies at the 16th step, exactly like a permanent sign flip; if it revives
before, its variance decays as usual.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.switches import Switch

__all__ = [
    "DeadRule",
    "MagnitudeRule",
    "NoRule",
    "SignVarianceRule",
    "enforce_dead",
    "make_dead_rule",
]

VAR_THRESHOLD = 0.5


def _switches(model: nn.Module) -> list[Switch]:
    return [m for m in model.modules() if isinstance(m, Switch)]


@runtime_checkable
class DeadRule(Protocol):
    """What the trainer and removal need from a dead-neuron rule."""

    def attach(self, model: nn.Module) -> None:
        """Start tracking ``model``'s switches (call once, before training)."""

    def update(self, model: nn.Module) -> int:
        """After an optimizer step: mark newly dead neurons, zero dead β; return # newly dead."""

    def keep_neurons(self, switch_index: int, keep: Tensor) -> None:
        """Physical removal kept neurons ``keep`` of switch ``switch_index``; slice state."""

    def state_dict(self) -> dict[str, Any]:
        """Resumable state."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def enforce_dead(model: nn.Module) -> None:
    """Hold β (and its gradient) at exactly 0 for every neuron not alive."""
    with torch.no_grad():
        for sw in _switches(model):
            dead = ~sw.alive
            sw.beta.masked_fill_(dead, 0.0)
            if sw.beta.grad is not None:
                sw.beta.grad.masked_fill_(dead, 0.0)


def _kill(sw: Switch, newly: Tensor, *, keep_last: bool = False) -> int:
    """Mark ``newly`` dead; with ``keep_last`` never the last alive neuron of a layer.

    When every alive neuron would die, the one with the largest ``|β|`` (the first on ties)
    stays alive: the layer keeps one live neuron, so it is reported as width 1 (not 0)
    and its β can still grow back if the data gradient asks for it.
    """
    if keep_last and bool(newly.any()) and not bool((sw.alive & ~newly).any()):
        strength = torch.where(sw.alive, sw.beta.detach().abs(), torch.full_like(sw.beta, -1.0))
        newly = newly.clone()
        newly[torch.argmax(strength)] = False
    count = int(newly.sum())
    if count:
        sw.alive &= ~newly
    return count


class NoRule:
    """Never kills; still holds already-dead neurons at β = 0."""

    def attach(self, model: nn.Module) -> None:
        """Nothing to track."""

    def update(self, model: nn.Module) -> int:
        """Re-zero dead β; returns 0."""
        enforce_dead(model)
        return 0

    def keep_neurons(self, switch_index: int, keep: Tensor) -> None:
        """No per-neuron state."""

    def state_dict(self) -> dict[str, Any]:
        """Empty."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


class MagnitudeRule(NoRule):
    """Kills every alive neuron with ``|β| < eps`` (so a prox-zeroed β dies at once).

    Args:
        eps: threshold, ≥ 0 (a tiny eps kills only β parked at exactly 0).
        keep_last: never kill a layer's last alive neuron (the largest ``|β|`` stays).

    Raises:
        ConfigError: if ``eps < 0``.
    """

    def __init__(self, eps: float = 1e-3, *, keep_last: bool = False):
        if eps < 0:
            raise ConfigError(f"MagnitudeRule eps={eps} is invalid; it must be >= 0")
        self.eps = eps
        self.keep_last = keep_last

    def update(self, model: nn.Module) -> int:
        """Kill alive neurons with ``|β| < eps``; return how many."""
        died = 0
        for sw in _switches(model):
            died += _kill(
                sw, sw.alive & (sw.beta.detach().abs() < self.eps), keep_last=self.keep_last
            )
        enforce_dead(model)
        return died


class SignVarianceRule(NoRule):
    """Sign-variance rule of docs/method.md §4 (see the module docstring for β = 0).

    Args:
        gamma: aggressiveness in [0, 1): 0 kills at the first sign flip, 0.99 (default)
            after ~16 steps of a permanent flip.
        keep_last: never kill a layer's last alive neuron (the largest ``|β|`` stays).

    Raises:
        ConfigError: if ``gamma`` is outside [0, 1).
    """

    def __init__(self, gamma: float = 0.99, *, keep_last: bool = False):
        if not 0.0 <= gamma < 1.0:
            raise ConfigError(f"SignVarianceRule gamma={gamma} is out of range; use 0 <= gamma < 1")
        self.gamma = gamma
        self.keep_last = keep_last
        self.means: list[Tensor] = []
        self.vars: list[Tensor] = []

    def attach(self, model: nn.Module) -> None:
        """Initialise ``mean = sign(β₀)``, ``var = 0`` for every switch of ``model``."""
        self.means = [torch.sign(sw.beta.detach()).clone() for sw in _switches(model)]
        self.vars = [torch.zeros_like(m) for m in self.means]

    def update(self, model: nn.Module) -> int:
        """One sign-variance update per neuron; kill where ``var > 0.5``."""
        switches = _switches(model)
        if len(switches) != len(self.means):
            raise ConfigError(
                f"SignVarianceRule tracks {len(self.means)} switches but the model has "
                f"{len(switches)}; call attach(model) first"
            )
        g = self.gamma
        died = 0
        for i, sw in enumerate(switches):
            beta = sw.beta.detach()
            if self.means[i].device != beta.device:  # e.g. state loaded on the CPU
                self.means[i] = self.means[i].to(beta.device)
                self.vars[i] = self.vars[i].to(beta.device)
            mean, var = self.means[i], self.vars[i]
            s = torch.sign(beta)
            s = torch.where(beta == 0, -torch.sign(mean), s)
            var.mul_(g).add_((1.0 - g) * (s - mean) ** 2)
            mean.mul_(g).add_((1.0 - g) * s)
            died += _kill(sw, sw.alive & (var > VAR_THRESHOLD), keep_last=self.keep_last)
        enforce_dead(model)
        return died

    def keep_neurons(self, switch_index: int, keep: Tensor) -> None:
        """Slice the per-neuron mean/var of switch ``switch_index``."""
        if switch_index < len(self.means):
            idx = keep.to(self.means[switch_index].device)
            self.means[switch_index] = self.means[switch_index].index_select(0, idx)
            self.vars[switch_index] = self.vars[switch_index].index_select(0, idx)

    def state_dict(self) -> dict[str, Any]:
        """``{"gamma", "means", "vars"}`` (tensors cloned)."""
        return {
            "gamma": self.gamma,
            "means": [m.clone() for m in self.means],
            "vars": [v.clone() for v in self.vars],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.gamma = float(state["gamma"])
        self.means = [m.clone() for m in state["means"]]
        self.vars = [v.clone() for v in state["vars"]]


_RULES: dict[str, type[NoRule]] = {
    "sign_variance": SignVarianceRule,
    "magnitude": MagnitudeRule,
    "none": NoRule,
}


def make_dead_rule(name: str, **kwargs: Any) -> DeadRule:
    """Build a rule by name: ``"sign_variance"`` (gamma), ``"magnitude"`` (eps), ``"none"``.

    Both killing rules also take ``keep_last`` (default False): never kill a layer's last
    alive neuron.

    Keyword arguments the chosen rule does not take are ignored, so a trainer can pass
    ``gamma=..., eps=...`` whatever the name.

    Raises:
        ConfigError: if ``name`` is unknown or a value is out of range.
    """
    if name not in _RULES:
        raise ConfigError(f"dead rule {name!r} is unknown; use one of {sorted(_RULES)}")
    if name == "sign_variance":
        return SignVarianceRule(
            gamma=float(kwargs.get("gamma", 0.99)), keep_last=bool(kwargs.get("keep_last"))
        )
    if name == "magnitude":
        return MagnitudeRule(
            eps=float(kwargs.get("eps", 1e-3)), keep_last=bool(kwargs.get("keep_last"))
        )
    return NoRule()
