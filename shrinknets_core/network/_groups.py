"""Data types shared by models and removal: coupled removal groups and removal records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.network.switches import Switch

__all__ = ["RemovalGroup", "RemovalRecord"]


@dataclass(eq=False)
class RemovalGroup:
    """The layers coupled by one gated set of neurons (or model inputs).

    Removing neuron ``i`` of the group slices, as one unit: row ``i`` of ``producer``
    (and its bias), entry ``i`` of ``norm`` (affine + running stats), entry ``i`` of
    ``switch`` and the input block ``i`` of ``consumer`` (``block`` consecutive columns:
    1 normally, ``H×W`` when a conv channel is flattened into a dense layer).

    Attributes:
        producer: Linear/Conv2d whose outputs are the neurons; None for model inputs.
        norm: BatchNorm between producer and switch, if any.
        switch: the gate; None in static nets (``switches=False``).
        consumer: Linear/Conv2d reading the neurons.
        block: consumer input columns per neuron.
        name: readable position, e.g. ``"hidden0"`` or ``"inputs"``.
    """

    producer: nn.Module | None
    norm: nn.Module | None
    switch: Switch | None
    consumer: nn.Module
    block: int
    name: str

    @property
    def width(self) -> int:
        """Physically present number of neurons in the group."""
        if self.switch is not None:
            return self.switch.num_features
        weight = self.consumer.weight
        assert isinstance(weight, nn.Parameter)
        return int(weight.shape[1]) // self.block


@dataclass
class RemovalRecord:
    """One physical removal, as JSON-serialisable data.

    Attributes:
        step: the training step at which it happened.
        kept: per group (in :meth:`ShrinkNet.groups` order) the indices kept, relative
            to the group's width just before this removal.
    """

    step: int
    kept: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"step": int, "kept": [[int, ...], ...]}``."""
        return {"step": int(self.step), "kept": [[int(i) for i in k] for k in self.kept]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemovalRecord:
        """Inverse of :meth:`to_dict`.

        Raises:
            ShrinkNetsError: if ``data`` lacks ``step``/``kept`` or has the wrong types.
        """
        try:
            step = int(data["step"])
            kept = [[int(i) for i in k] for k in data["kept"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ShrinkNetsError(
                f"malformed removal record {data!r}: expected "
                '{"step": int, "kept": [[int, ...], ...]}'
            ) from e
        return cls(step=step, kept=kept)
