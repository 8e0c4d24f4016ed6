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
``mean ← γ·mean + (1−γ)·s``; ``var > 0.5`` ⇒ dead. The start of the mean is an option
(``mean_start``): ``"sign"`` (the default) starts it at ``sign(β₀)``, so a neuron is judged
on leaving the sign it started with; ``"positive"`` starts it at +1 for every neuron, so a
β that starts negative counts as having flipped already (with β₀ ~ N(0, 1), about half
the neurons start with a large variance increment; docs/results.md §2 measures what that
costs in loss).

*β exactly 0* (a proximal step parked it there): ``sign(0) = 0`` would leave ``var``
below ``0.25/γ`` forever, so a parked neuron would never die. We count ``β = 0`` as the
sign opposite to the running mean (``s = −sign(mean)``): being parked at zero is leaving
the current sign. Hence with γ = 0 a prox-zeroed β dies at once, and with γ = 0.99 a β
that stays at 0 dies at the 16th step, exactly like a permanent sign flip; if it revives
before, its variance decays as usual.

**The hot loop** (the rule runs after every optimizer step): the running statistics of
all live switches update in one batch of fused ``torch._foreach_*`` ops whatever the
number of layers; the kill test runs only where the trainer asks (``check``, every
``TrainConfig.dead_check_every`` steps) and is tensor-only: no ``.item()`` or other host
sync except one count per check. Frozen switches (``Switch.freeze``) are skipped: they
have no dead neuron and never get one.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.switches import Switch

__all__ = [
    "MEAN_STARTS",
    "DeadRule",
    "MagnitudeRule",
    "MeanStart",
    "NoRule",
    "SignVarianceRule",
    "enforce_dead",
    "make_dead_rule",
]

VAR_THRESHOLD = 0.5
MeanStart = Literal["sign", "positive"]
MEAN_STARTS: tuple[MeanStart, ...] = ("sign", "positive")


def _switches(model: nn.Module) -> list[Switch]:
    return [m for m in model.modules() if isinstance(m, Switch)]


def _live(model: nn.Module, switches: list[Switch] | None = None) -> list[tuple[int, Switch]]:
    """``(index, switch)`` of every switch not frozen (the index counts frozen ones too);
    ``switches``: the model's switches when the caller has listed them already."""
    listed = _switches(model) if switches is None else switches
    return [(i, sw) for i, sw in enumerate(listed) if not sw.frozen]


@runtime_checkable
class DeadRule(Protocol):
    """What the trainer and removal need from a dead-neuron rule."""

    def attach(self, model: nn.Module) -> None:
        """Start tracking ``model``'s switches (call once, before training)."""

    def update(self, model: nn.Module, *, check: bool = True) -> int:
        """After an optimizer step: update running statistics and, when ``check``, mark
        newly dead neurons; zero dead β; return # newly dead (0 when not checking)."""

    def keep_neurons(self, switch_index: int, keep: Tensor) -> None:
        """Physical removal kept neurons ``keep`` of switch ``switch_index``; slice state."""

    def state_dict(self) -> dict[str, Any]:
        """Resumable state."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def enforce_dead(model: nn.Module) -> None:
    """Hold β (and its gradient) at exactly 0 for every neuron not alive."""
    _enforce([sw for _, sw in _live(model)])


def _enforce(switches: list[Switch]) -> None:
    """:func:`enforce_dead` on switches already listed (the rules' hot loop walks the
    model's modules once per step)."""
    with torch.no_grad():
        for sw in switches:
            dead = ~sw.alive
            sw.beta.masked_fill_(dead, 0.0)
            if sw.beta.grad is not None:
                sw.beta.grad.masked_fill_(dead, 0.0)


def _kill(sw: Switch, newly: Tensor, *, keep_last: bool = False) -> Tensor:
    """Mark ``newly`` dead; with ``keep_last`` never the last alive neuron of a layer.

    When every alive neuron would die, the one with the largest ``|β|`` (the first on ties)
    stays alive: the layer keeps one live neuron, so it is reported as width 1 (not 0)
    and its β can still grow back if the data gradient asks for it.

    Tensor ops only (no host sync); returns how many died as a 0-dim tensor.
    """
    if keep_last:
        none_left = ~(sw.alive & ~newly).any()
        strength = torch.where(sw.alive, sw.beta.detach().abs(), torch.full_like(sw.beta, -1.0))
        strongest = torch.arange(newly.shape[0], device=newly.device) == torch.argmax(strength)
        newly = newly & ~(strongest & none_left)
    sw.alive &= ~newly
    return newly.sum()


def _count(counts: list[Tensor]) -> int:
    """The one host sync of a check: how many died over all switches."""
    return int(torch.stack(counts).sum()) if counts else 0


class NoRule:
    """Never kills; still holds already-dead neurons at β = 0."""

    def attach(self, model: nn.Module) -> None:
        """Nothing to track."""

    def update(self, model: nn.Module, *, check: bool = True) -> int:
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

    def update(self, model: nn.Module, *, check: bool = True) -> int:
        """When ``check``: kill alive neurons with ``|β| < eps``; return how many."""
        live = [sw for _, sw in _live(model)]
        died = 0
        if check:
            died = _count([
                _kill(sw, sw.alive & (sw.beta.detach().abs() < self.eps),
                      keep_last=self.keep_last)
                for sw in live
            ])
        _enforce(live)
        return died


class SignVarianceRule(NoRule):
    """Sign-variance rule of docs/method.md §4 (see the module docstring for β = 0).

    Args:
        gamma: aggressiveness in [0, 1): 0 kills at the first sign flip, 0.99 (default)
            after ~16 steps of a permanent flip.
        keep_last: never kill a layer's last alive neuron (the largest ``|β|`` stays).
        mean_start: ``"sign"`` (default): the running sign mean starts at ``sign(β₀)``;
            ``"positive"``: it starts at +1 for every neuron (see the module docstring).

    Raises:
        ConfigError: if ``gamma`` is outside [0, 1) or ``mean_start`` is unknown.
    """

    def __init__(self, gamma: float = 0.99, *, keep_last: bool = False,
                 mean_start: MeanStart = "sign"):
        if not 0.0 <= gamma < 1.0:
            raise ConfigError(f"SignVarianceRule gamma={gamma} is out of range; use 0 <= gamma < 1")
        if mean_start not in MEAN_STARTS:
            raise ConfigError(
                f"SignVarianceRule mean_start={mean_start!r} is unknown; use one of {MEAN_STARTS}"
            )
        self.gamma = gamma
        self.keep_last = keep_last
        self.mean_start: MeanStart = mean_start
        self.means: list[Tensor] = []
        self.vars: list[Tensor] = []

    def attach(self, model: nn.Module) -> None:
        """Initialise ``mean = sign(β₀)`` (or +1, see ``mean_start``), ``var = 0`` for every
        switch of ``model``."""
        if self.mean_start == "positive":
            self.means = [torch.ones_like(sw.beta.detach()) for sw in _switches(model)]
        else:
            self.means = [torch.sign(sw.beta.detach()).clone() for sw in _switches(model)]
        self.vars = [torch.zeros_like(m) for m in self.means]

    def update(self, model: nn.Module, *, check: bool = True) -> int:
        """One sign-variance update per neuron; when ``check``, kill where ``var > 0.5``."""
        switches = _switches(model)
        if len(switches) != len(self.means):
            raise ConfigError(
                f"SignVarianceRule tracks {len(self.means)} switches but the model has "
                f"{len(switches)}; call attach(model) first"
            )
        live = _live(model, switches)
        for i, sw in live:
            if self.means[i].device != sw.beta.device:  # e.g. state loaded on the CPU
                self.means[i] = self.means[i].to(sw.beta.device)
                self.vars[i] = self.vars[i].to(sw.beta.device)
        if live:
            self._fused_update([sw.beta.detach() for _, sw in live],
                               [self.means[i] for i, _ in live], [self.vars[i] for i, _ in live])
        died = 0
        if check:
            died = _count([_kill(sw, sw.alive & (self.vars[i] > VAR_THRESHOLD),
                                 keep_last=self.keep_last) for i, sw in live])
        _enforce([sw for _, sw in live])
        return died

    @torch.no_grad()
    def _fused_update(self, betas: list[Tensor], means: list[Tensor], vars_: list[Tensor]) -> None:
        """``var ← γ·var + (1−γ)(s − mean)²``, ``mean ← γ·mean + (1−γ)·s`` for every tensor
        at once, ``s = sign(β)`` with ``β = 0`` counted as ``−sign(mean)``.

        The same values, bit for bit, as the per-tensor form ``torch.where(β == 0,
        −sign(mean), sign(β))``: ``s + (|s|·sign(mean) − sign(mean))`` adds exactly 0 where
        ``|s| = 1`` and gives ``−sign(mean)`` where ``s = 0``.
        """
        g = self.gamma
        s = torch._foreach_sign(betas)
        sign_mean = torch._foreach_sign(means)
        fix = torch._foreach_mul(torch._foreach_abs(s), sign_mean)
        torch._foreach_sub_(fix, sign_mean)
        torch._foreach_add_(s, fix)
        sq = torch._foreach_pow(torch._foreach_sub(s, means), 2)
        torch._foreach_mul_(sq, 1.0 - g)
        torch._foreach_mul_(vars_, g)
        torch._foreach_add_(vars_, sq)
        torch._foreach_mul_(s, 1.0 - g)
        torch._foreach_mul_(means, g)
        torch._foreach_add_(means, s)

    def keep_neurons(self, switch_index: int, keep: Tensor) -> None:
        """Slice the per-neuron mean/var of switch ``switch_index``."""
        if switch_index < len(self.means):
            idx = keep.to(self.means[switch_index].device)
            self.means[switch_index] = self.means[switch_index].index_select(0, idx)
            self.vars[switch_index] = self.vars[switch_index].index_select(0, idx)

    def state_dict(self) -> dict[str, Any]:
        """``{"gamma", "mean_start", "means", "vars"}`` (tensors cloned)."""
        return {
            "gamma": self.gamma,
            "mean_start": self.mean_start,
            "means": [m.clone() for m in self.means],
            "vars": [v.clone() for v in self.vars],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.gamma = float(state["gamma"])
        self.mean_start = state.get("mean_start", "sign")  # states saved before the option
        self.means = [m.clone() for m in state["means"]]
        self.vars = [v.clone() for v in state["vars"]]


_RULES: dict[str, type[NoRule]] = {
    "sign_variance": SignVarianceRule,
    "magnitude": MagnitudeRule,
    "none": NoRule,
}


def make_dead_rule(name: str, **kwargs: Any) -> DeadRule:
    """Build a rule by name: ``"sign_variance"`` (gamma, mean_start), ``"magnitude"`` (eps),
    ``"none"``.

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
            gamma=float(kwargs.get("gamma", 0.99)), keep_last=bool(kwargs.get("keep_last")),
            mean_start=kwargs.get("mean_start", "sign"),
        )
    if name == "magnitude":
        return MagnitudeRule(
            eps=float(kwargs.get("eps", 1e-3)), keep_last=bool(kwargs.get("keep_last"))
        )
    return NoRule()
