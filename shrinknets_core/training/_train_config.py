"""``TrainConfig``: every training option, validated when built (re-exported by ``trainer``)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from shrinknets_core.errors import ConfigError
from shrinknets_core.removal.dead import MEAN_STARTS, MeanStart

__all__ = ["TrainConfig"]

_CHOICES: dict[str, tuple[Any, ...]] = {
    "optimizer": ("adam", "sgd", "adamw", "adagrad"),
    "p": (1, 2),
    "penalty": ("shrink", "group", "none"),
    "beta_optimizer": ("prox", "same"),
    "lam_scale": ("none", "grad"),
    "penalty_weight": ("uniform", "params", "macs"),
    "dead_rule": ("sign_variance", "magnitude", "none"),
    "sign_mean_start": MEAN_STARTS,
}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """How to train a :class:`~shrinknets_core.network.ShrinkNet` (``docs/architecture.md``).

    Attributes:
        epochs: passes over the training set (≥ 1).
        batch_size: rows per optimizer step (≥ 1).
        optimizer: weight optimizer, ``"adam" | "sgd" | "adamw" | "adagrad"``.
        lr: weight learning rate (> 0).
        momentum: SGD momentum in [0, 1).
        lam: λ, the switch penalty λ‖β‖₁ (or the group penalty's λ), ≥ 0.
        lam2: λ₂, the weight penalty λ₂‖θ‖ₚᵖ on non-switch weights, ≥ 0.
        p: 1 or 2, the weight penalty's norm.
        penalty: ``"shrink"`` (Ω^rs), ``"group"`` (Ω^gp baseline, plus λ₂) or ``"none"``.
        beta_optimizer: ``"prox"`` = plain SGD on β with ``beta_lr`` then a soft threshold
            ``beta_lr·lam`` (λ controls size); ``"same"`` = β in the weight optimizer with
            the penalty's gradient (the authors' setup; with Adam λ barely controls size).
        beta_lr: β learning rate for ``"prox"`` (> 0).
        beta_max: ``"prox"`` projects β onto ``|β| ≤ beta_max`` after every step (> 0), so a
            large ``beta_lr`` cannot make β run away; ``None`` = unbounded (the old step).
        lam_scale: ``"prox"`` step: ``"none"`` = SGD on the raw data gradient, threshold
            ``beta_lr·lam``; ``"grad"`` = each layer's step normalised by its RMS gradient
            and penalty ``lam·‖g_layer‖₂``: a neuron survives while it carries a share
            ≥ lam (in (0, 1)) of its layer's gradient norm, so a layer settles near
            ``1/lam²`` neurons and lam acts from the first steps (``_optim``).
        penalty_weight: ``beta_optimizer="prox"`` (either ``lam_scale``): ``"uniform"``
            (every neuron's |β| costs λ), ``"params"`` or ``"macs"`` (weighted by the
            parameters / MACs per sample the neuron carries, recomputed after every
            removal; ``pricing``; the layer-normalised step uses relative prices).
        lam_layer_scales: ``"prox"`` step: λ of each layer (switch order) times this factor
            (> 0); ``None`` = the same λ for every layer. A λ path's ratio passes use it
            (``studies._path_refine``).
        pin_bn_scale: ``"prox"`` step: when a BatchNorm normalises a switch's consumer,
            rescale that switch's β to ``max|β| = 1`` after every step — the loss does not
            see β's common scale, so without this λ‖β‖₁ shrinks it at ``beta_lr·λ`` per
            step whatever the data (``_optim``). False = the ill-posed plain step.
        dead_rule: ``"sign_variance" | "magnitude" | "none"``.
        gamma: sign-variance aggressiveness in [0, 1).
        sign_mean_start: where the sign-variance rule's running sign mean starts:
            ``"sign"`` (default) at ``sign(β₀)``, ``"positive"`` at +1 (docs/method.md §4).
        eps: magnitude-rule threshold (> 0).
        keep_last_alive: the dead rule never kills a layer's last alive neuron (the largest
            ``|β|`` survives), so no layer collapses to width 0; False = the old rule.
        removal: physically remove dead neurons (False = masking only, full-width compute).
        removal_every_steps: remove every N optimizer steps; ``None`` = once per epoch.
        freeze_after_steps: freeze a layer's switch (``Switch.freeze``: β constant, out of
            the β step and the dead rule) once the layer has lost no neuron for this many
            steps, checked at each removal (needs ``removal``); ``None`` = never. A layer
            that would have lost a neuron later keeps it: see ``docs/method.md`` §5.
        dead_check_every: the dead rule's running statistics update every step; its kill
            test (``var > 0.5`` / ``|β| < eps``) runs every this many steps (1 = every step).
        max_steps: end ``fit`` after this many optimizer steps (the partial last epoch is
            recorded with the samples it saw); ``None`` = ``epochs`` alone decides.
        lr_plateau_patience: ReduceLROnPlateau patience in epochs (×0.1), ``None`` = off.
        early_stopping_patience: stop after this many epochs without a 1e-4 relative
            improvement of the validation loss; ``None`` = off.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
            CUDA without a GPU falls back to CPU with a warning.
        seed: seeds the batch order and torch's global RNG (dropout).
    """

    epochs: int = 20
    batch_size: int = 128
    optimizer: Literal["adam", "sgd", "adamw", "adagrad"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    lam: float = 0.0
    lam2: float = 1e-4
    p: Literal[1, 2] = 2
    penalty: Literal["shrink", "group", "none"] = "shrink"
    beta_optimizer: Literal["prox", "same"] = "prox"
    beta_lr: float = 0.5
    beta_max: float | None = None
    lam_scale: Literal["none", "grad"] = "none"
    penalty_weight: Literal["uniform", "params", "macs"] = "uniform"
    lam_layer_scales: tuple[float, ...] | None = None
    pin_bn_scale: bool = True
    dead_rule: Literal["sign_variance", "magnitude", "none"] = "sign_variance"
    gamma: float = 0.99
    sign_mean_start: MeanStart = "sign"
    eps: float = 1e-3
    keep_last_alive: bool = True
    removal: bool = True
    removal_every_steps: int | None = None
    freeze_after_steps: int | None = None
    dead_check_every: int = 1
    max_steps: int | None = None
    lr_plateau_patience: int | None = None
    early_stopping_patience: int | None = None
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"TrainConfig.{name}={value!r} is not allowed; use one of {allowed}"
                )
        _check_int(self, "epochs", 1)
        _check_int(self, "batch_size", 1)
        _check_int(self, "seed", 0)
        _check_int(self, "dead_check_every", 1)
        _check_float(self, "lr", low=0.0, low_open=True)
        _check_float(self, "momentum", low=0.0, high=1.0)
        _check_float(self, "lam", low=0.0)
        _check_float(self, "lam2", low=0.0)
        _check_float(self, "beta_lr", low=0.0, low_open=True)
        if self.beta_max is not None:
            _check_float(self, "beta_max", low=0.0, low_open=True)
        _check_float(self, "gamma", low=0.0, high=1.0)
        _check_float(self, "eps", low=0.0, low_open=True)
        for name in (
            "removal_every_steps", "freeze_after_steps", "max_steps", "lr_plateau_patience",
            "early_stopping_patience",
        ):
            if getattr(self, name) is not None:
                _check_int(self, name, 1)
        for name in ("removal", "keep_last_alive", "pin_bn_scale"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"TrainConfig.{name}={getattr(self, name)!r} must be True or False"
                )
        if self.penalty_weight != "uniform" and (
            self.beta_optimizer != "prox" or self.penalty != "shrink"
        ):
            raise ConfigError(
                f"TrainConfig.penalty_weight={self.penalty_weight!r} prices the proximal β "
                "step only; use beta_optimizer='prox' with penalty='shrink', or 'uniform'"
            )
        if self.lam_layer_scales is not None:
            scales = tuple(float(x) for x in self.lam_layer_scales)
            if not scales or not all(math.isfinite(x) and x > 0 for x in scales):
                raise ConfigError(
                    f"TrainConfig.lam_layer_scales={self.lam_layer_scales!r}: one positive "
                    "factor per layer, or None"
                )
            if self.beta_optimizer != "prox" or self.penalty != "shrink":
                raise ConfigError(
                    "TrainConfig.lam_layer_scales scales the proximal β step only; use "
                    "beta_optimizer='prox' with penalty='shrink', or None"
                )
            object.__setattr__(self, "lam_layer_scales", scales)
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ConfigError(
                f"TrainConfig.device={self.device!r} is not allowed; "
                "use 'auto', 'cpu', 'cuda' or 'cuda:N'"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a dict of JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from :meth:`to_dict` output (a subset of keys is fine).

        Raises:
            ConfigError: an unknown key (named, with the known ones) or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"TrainConfig has no field(s) {unknown}; known fields are {sorted(known)}"
            )
        return cls(**data)


def _check_int(config: TrainConfig, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"TrainConfig.{name}={value!r} must be an integer ≥ {low}")


def _check_float(
    config: TrainConfig,
    name: str,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    value = getattr(config, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if low_open else value >= low
        if high is not None:
            ok = ok and value < high
    if not ok:
        left = "(" if low_open else "["
        right = f"{high})" if high is not None else "∞)"
        raise ConfigError(f"TrainConfig.{name}={value!r} must be a number in {left}{low}, {right}")
