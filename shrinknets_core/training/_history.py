"""What a training run records: one :class:`EpochRecord` per epoch and a :class:`TrainResult`.

Both are plain dataclasses of JSON types (ints, floats, lists, ``None``) so ``json.dumps(
record.to_dict())`` always works; the studies layer stores them as Optuna trial attributes.

Cost accounting (see ``docs/architecture.md``, "Trainer"):

* ``cost_macs`` counts multiply-accumulates actually computed: for every optimizer step,
  the network's MACs per sample *at that step* (widths shrink mid-epoch when removal runs
  every few steps) × the batch size × 3 (forward pass + backward pass ≈ 2 forwards).
  A masking-only run (``removal=False``) computes at full width, so it pays full width.
* ``live_inputs`` is the paper's hardware-independent proxy: Σ over layers of the input
  neurons each layer still has (present in the network, i.e. not yet physically removed),
  averaged over the epoch's optimizer steps. A masking-only run removes nothing, so every
  neuron counts, as in the paper's no-removal baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

__all__ = ["BatchEnd", "EpochRecord", "TrainResult"]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training, JSON-serialisable via :meth:`to_dict`.

    Attributes:
        epoch: 1-based epoch number.
        widths: live hidden widths at the end of the epoch (``ShrinkNet.widths()``).
        params: parameter count at the end of the epoch (``ShrinkNet.param_count()``).
        macs_per_sample: forward MACs per sample at the end of the epoch.
        train_loss: mean data loss (cross-entropy or MSE, no penalty) over the epoch's samples.
        val_loss: validation data loss after the epoch (eval mode).
        val_accuracy: validation accuracy in [0, 1]; ``None`` for regression.
        lr: learning rate of the weight optimizer during the epoch.
        wall_time_s: wall-clock seconds of the epoch (training + validation).
        cost_macs: MACs computed this epoch (see module docstring; forward+backward = 3×).
        live_inputs: the paper's cost proxy for this epoch (see module docstring).
        samples: training samples seen this epoch (less than the train set if stopped mid-epoch).
        removed: neurons physically removed during this epoch.
    """

    epoch: int
    widths: list[int]
    params: int
    macs_per_sample: int
    train_loss: float
    val_loss: float
    val_accuracy: float | None
    lr: float
    wall_time_s: float
    cost_macs: int
    live_inputs: float
    samples: int = 0
    removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a dict of JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """Rebuild a record from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TrainResult:
    """The outcome of :meth:`shrinknets_core.training.trainer.Trainer.fit`.

    Attributes:
        history: one :class:`EpochRecord` per (possibly partial) epoch.
        final_widths: live hidden widths of the trained network.
        params: its parameter count.
        val_loss, val_accuracy, test_loss, test_accuracy: evaluated on the final network
            (accuracies are ``None`` for regression; test values are ``None`` when the
            dataset has no test rows).
        cost_macs: Σ of the epochs' ``cost_macs``.
        cost_inputs: Σ of the epochs' ``live_inputs`` (the paper's proxy).
        wall_time_s: wall-clock seconds of the whole fit.
        stopped_early: True when early stopping or a ``StopTraining`` callback ended the run.
        stop_reason: why it stopped early (``None`` when it ran all epochs).
    """

    history: list[EpochRecord]
    final_widths: list[int]
    params: int
    val_loss: float
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    cost_macs: int
    cost_inputs: float
    wall_time_s: float
    stopped_early: bool
    stop_reason: str | None = None
    removals: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a dict of JSON types (history as a list of dicts)."""
        out = asdict(self)
        out["history"] = [r.to_dict() for r in self.history]
        return out


@dataclass(frozen=True)
class BatchEnd:
    """Payload of the ``on_batch_end`` callback event.

    ``loss`` is the batch's data loss as a detached 0-d tensor on the training device: reading
    it with ``.item()`` forces a device sync, so callbacks should only do that when needed.
    """

    epoch: int
    step: int
    loss: torch.Tensor
    batch_size: int
