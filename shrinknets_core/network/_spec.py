"""``ModelSpec``: what network to build, validated at construction (re-exported by ``models``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.switches import SwitchInit

__all__ = ["ACTIVATIONS", "Activation", "ModelKind", "ModelSpec"]

ModelKind = Literal["mlp", "cnn", "linear", "logistic"]
Activation = Literal["relu", "tanh", "leaky_relu"]
_KINDS = ("mlp", "cnn", "linear", "logistic")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}
_SWITCH_INITS = ("ones", "uniform", "normal")


@dataclass(frozen=True)
class ModelSpec:
    """What to build; JSON round trip with :meth:`to_dict` / :meth:`from_dict`.

    Attributes:
        kind: ``"mlp"``, ``"cnn"``, ``"linear"`` (multi-target regression) or ``"logistic"``.
        in_features: number of inputs (for CNNs ``C·H·W``).
        out_features: outputs (targets or classes).
        hidden: MLP widths, or CNN channels per conv block; empty for linear/logistic.
        dense: CNN dense widths after ``Flatten``.
        image_shape: ``(C, H, W)`` for CNNs.
        activation, batchnorm, dropout: hidden-layer options.
        switches: False builds the same net without switches (static, for width search).
        switch_init: initial β (``"ones"``, ``"uniform"``, ``"normal"``).

    Raises:
        ConfigError: on any inconsistent or out-of-range field.
    """

    kind: ModelKind
    in_features: int
    out_features: int
    hidden: tuple[int, ...] = ()
    dense: tuple[int, ...] = ()
    image_shape: tuple[int, int, int] | None = None
    activation: Activation = "relu"
    batchnorm: bool = False
    dropout: float = 0.0
    switches: bool = True
    switch_init: SwitchInit = "ones"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        if self.image_shape is not None:
            object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        self._validate()

    def _validate(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"ModelSpec.kind={self.kind!r} is unknown; use one of {_KINDS}")
        for name in ("in_features", "out_features"):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"ModelSpec.{name}={value} is invalid; it must be >= 1")
        for name in ("hidden", "dense"):
            widths = getattr(self, name)
            if any(w < 1 for w in widths):
                raise ConfigError(f"ModelSpec.{name}={widths} is invalid; every width must be >= 1")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"ModelSpec.activation={self.activation!r} is unknown; "
                f"use one of {list(ACTIVATIONS)}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"ModelSpec.dropout={self.dropout} is out of range; use 0 <= p < 1")
        if self.switch_init not in _SWITCH_INITS:
            raise ConfigError(
                f"ModelSpec.switch_init={self.switch_init!r} is unknown; use one of {_SWITCH_INITS}"
            )
        if self.kind in ("linear", "logistic") and (self.hidden or self.dense):
            raise ConfigError(
                f"ModelSpec.kind={self.kind!r} is single-layer: hidden={self.hidden} and "
                f"dense={self.dense} must be empty"
            )
        if self.kind == "mlp":
            if not self.hidden:
                raise ConfigError("ModelSpec.hidden=() is invalid for an mlp; give >= 1 width")
            if self.dense:
                raise ConfigError(f"ModelSpec.dense={self.dense} is only for cnn; use hidden")
        if self.kind == "cnn":
            self._validate_cnn()

    def _validate_cnn(self) -> None:
        if self.image_shape is None or len(self.image_shape) != 3:
            raise ConfigError(
                f"ModelSpec.image_shape={self.image_shape} is invalid for a cnn; give (C, H, W)"
            )
        c, h, w = self.image_shape
        if c * h * w != self.in_features:
            raise ConfigError(
                f"ModelSpec.image_shape={self.image_shape} has {c * h * w} values but "
                f"in_features={self.in_features}; make them agree"
            )
        if not self.hidden:
            raise ConfigError("ModelSpec.hidden=() is invalid for a cnn; give >= 1 channel count")
        if min(h, w) >> len(self.hidden) < 1:
            raise ConfigError(
                f"ModelSpec.hidden={self.hidden} has {len(self.hidden)} pooling blocks, too many "
                f"for {h}x{w} images; use at most {min(h, w).bit_length() - 1}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        data["dense"] = list(self.dense)
        data["image_shape"] = list(self.image_shape) if self.image_shape else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: on unknown keys or invalid values.
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"ModelSpec got unknown fields {sorted(unknown)}; known: {sorted(known)}"
            )
        args = dict(data)
        for name in ("hidden", "dense"):
            if name in args:
                args[name] = tuple(args[name])
        if args.get("image_shape") is not None:
            args["image_shape"] = tuple(args["image_shape"])
        return cls(**args)
