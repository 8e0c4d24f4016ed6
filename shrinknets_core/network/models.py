"""Models built from a :class:`ModelSpec`: MLP, small VGG-style CNN, linear and logistic.

Layouts (``[...]`` = optional, Switch omitted when ``switches=False``):

- ``mlp``: per hidden width ``Linear → [BatchNorm1d] → Switch → act → [Dropout]``, then
  an output ``Linear``.
- ``cnn``: per channel entry ``Conv3x3 → BatchNorm2d → Switch → act → MaxPool2``, then
  ``Flatten`` and the dense layers as in the MLP (``dense`` widths), then the output
  ``Linear``. The conv blocks always use BatchNorm; ``batchnorm`` applies to the dense part.
- ``linear`` / ``logistic``: ``InputSwitch → Linear`` (``f(x) = A·diag(β)·x + b``); the
  logistic model returns logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from shrinknets_core.network._groups import RemovalGroup, RemovalRecord
from shrinknets_core.network._spec import ACTIVATIONS, ModelSpec
from shrinknets_core.network.switches import InputSwitch, Switch

__all__ = ["ModelSpec", "ShrinkNet", "build_model"]


@dataclass(frozen=True)
class _GroupSlots:
    """Positions in ``ShrinkNet.layers`` of one group's modules."""

    producer: int | None
    norm: int | None
    switch: int | None
    consumer: int
    block: int
    name: str


class ShrinkNet(nn.Module):
    """A network whose gated layers can shrink during training.

    Build with :func:`build_model`. ``layers`` is a plain ``nn.Sequential``; the
    coupled layers of each gated position are described by :meth:`groups`.

    Attributes:
        spec: the :class:`ModelSpec` it was built from.
        layers: the modules, in forward order.
        removal_log: every physical removal applied, in order (replayable).
    """

    def __init__(self, spec: ModelSpec, layers: nn.Sequential, slots: list[_GroupSlots]):
        super().__init__()
        self.spec = spec
        self.layers = layers
        self._slots = slots
        self.removal_log: list[RemovalRecord] = []

    def forward(self, x: Tensor) -> Tensor:
        """Outputs ``(N, out_features)`` for inputs ``(N, in_features)`` or ``(N, C, H, W)``."""
        if self.spec.kind == "cnn" and x.dim() == 2:
            assert self.spec.image_shape is not None
            x = x.reshape(x.shape[0], *self.spec.image_shape)
        return cast(Tensor, self.layers(x))

    def switches(self) -> list[Switch]:
        """All switches in forward order (the input switch first for single-layer models)."""
        return [m for m in self.layers if isinstance(m, Switch)]

    def groups(self) -> list[RemovalGroup]:
        """One :class:`RemovalGroup` per gated position (hidden layer or model inputs)."""

        def at(i: int | None) -> nn.Module | None:
            return None if i is None else self.layers[i]

        return [
            RemovalGroup(
                producer=at(s.producer),
                norm=at(s.norm),
                switch=cast(Switch | None, at(s.switch)),
                consumer=self.layers[s.consumer],
                block=s.block,
                name=s.name,
            )
            for s in self._slots
        ]

    def scale_free_switches(self) -> list[bool]:
        """Per switch (in :meth:`switches` order): does a BatchNorm normalise its consumer's
        output? Then the loss is unchanged when all of that switch's β are multiplied by
        c > 0 (the BatchNorm's batch statistics absorb c), so the scale of β is free."""
        groups = self.groups()
        out = []
        for i, g in enumerate(groups):
            if g.switch is None:
                continue
            nxt = groups[i + 1] if i + 1 < len(groups) else None
            out.append(nxt is not None and nxt.producer is g.consumer and nxt.norm is not None)
        return out

    def widths(self) -> list[int]:
        """Physically present widths per group: hidden widths, or live inputs (single layer)."""
        return [g.width for g in self.groups()]

    def alive_widths(self) -> list[int]:
        """Per group, neurons not killed by a dead rule (≤ :meth:`widths`)."""
        out = []
        for g in self.groups():
            out.append(int(g.switch.alive.sum()) if g.switch is not None else g.width)
        return out

    def live_inputs(self) -> int:
        """Σ over weight layers of their present inputs (the paper's cost proxy)."""
        return sum(_in_width(m) for m in self.layers if isinstance(m, nn.Linear | nn.Conv2d))

    def param_count(self) -> int:
        """Number of scalar parameters physically present (β and BN affine included)."""
        return sum(p.numel() for p in self.parameters())

    def macs_per_sample(self) -> int:
        """Multiply–accumulates of one forward pass through the Linear/Conv layers."""
        total = 0
        hw: tuple[int, int] | None = None
        if self.spec.image_shape is not None:
            hw = (self.spec.image_shape[1], self.spec.image_shape[2])
        for m in self.layers:
            if isinstance(m, nn.Linear):
                total += m.in_features * m.out_features
            elif isinstance(m, nn.Conv2d):
                assert hw is not None
                kh, kw = m.kernel_size
                total += m.out_channels * m.in_channels * kh * kw * hw[0] * hw[1]
            elif isinstance(m, nn.MaxPool2d):
                assert hw is not None
                hw = (hw[0] // 2, hw[1] // 2)
        return total


def _in_width(m: nn.Linear | nn.Conv2d) -> int:
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def build_model(spec: ModelSpec, *, seed: int | None = None) -> ShrinkNet:
    """Build the network described by ``spec`` (float32, CPU, training mode).

    Args:
        spec: the model description.
        seed: seeds the initialisation without touching the global RNG; None uses it.

    Returns:
        A fresh :class:`ShrinkNet` with an empty removal log.
    """
    if seed is None:
        return _build(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(spec)


class _Builder:
    """Appends layers and records where each group's modules sit."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.layers: list[nn.Module] = []
        self.slots: list[_GroupSlots] = []
        self._pending: dict[str, Any] | None = None

    def add(self, module: nn.Module) -> int:
        self.layers.append(module)
        return len(self.layers) - 1

    def open_group(self, *, producer: int | None, norm: int | None, switch: int | None,
                   name: str) -> None:
        self._pending = {"producer": producer, "norm": norm, "switch": switch, "name": name,
                         "block": 1}

    def set_block(self, block: int) -> None:
        assert self._pending is not None
        self._pending["block"] = block

    def add_consumer(self, module: nn.Module) -> None:
        index = self.add(module)
        if self._pending is not None:
            self.slots.append(_GroupSlots(consumer=index, **self._pending))
            self._pending = None

    def hidden_block(self, width: int, *, name: str, conv: bool, batchnorm: bool) -> None:
        """Producer (already added by the caller as consumer of the previous group) + gate."""
        producer = len(self.layers) - 1
        norm = None
        if batchnorm:
            norm = self.add(nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width))
        switch = None
        if self.spec.switches:
            switch = self.add(Switch(width, init=self.spec.switch_init, conv=conv))
        act = ACTIVATIONS[self.spec.activation]
        self.add(act())
        if conv:
            self.add(nn.MaxPool2d(2))
        elif self.spec.dropout > 0:
            self.add(nn.Dropout(self.spec.dropout))
        self.open_group(producer=producer, norm=norm, switch=switch, name=name)


def _build(spec: ModelSpec) -> ShrinkNet:
    b = _Builder(spec)
    if spec.kind in ("linear", "logistic"):
        switch = None
        if spec.switches:
            switch = b.add(InputSwitch(spec.in_features, init=spec.switch_init))
        b.open_group(producer=None, norm=None, switch=switch, name="inputs")
        b.add_consumer(nn.Linear(spec.in_features, spec.out_features))
    elif spec.kind == "mlp":
        width = spec.in_features
        for i, h in enumerate(spec.hidden):
            b.add_consumer(nn.Linear(width, h))
            b.hidden_block(h, name=f"hidden{i}", conv=False, batchnorm=spec.batchnorm)
            width = h
        b.add_consumer(nn.Linear(width, spec.out_features))
    else:
        assert spec.image_shape is not None
        channels, height, wide = spec.image_shape
        for i, c in enumerate(spec.hidden):
            b.add_consumer(nn.Conv2d(channels, c, kernel_size=3, padding=1))
            b.hidden_block(c, name=f"conv{i}", conv=True, batchnorm=True)
            channels, height, wide = c, height // 2, wide // 2
        b.add(nn.Flatten())
        b.set_block(height * wide)
        width = channels * height * wide
        for i, d in enumerate(spec.dense):
            b.add_consumer(nn.Linear(width, d))
            b.hidden_block(d, name=f"dense{i}", conv=False, batchnorm=spec.batchnorm)
            width = d
        b.add_consumer(nn.Linear(width, spec.out_features))
    return ShrinkNet(spec, nn.Sequential(*b.layers), b.slots)
