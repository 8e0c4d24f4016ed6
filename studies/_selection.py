"""Which epoch's network a trial keeps: one rule for every arm.

**A trial's network is the one from its best validation epoch among the epochs at its final
widths.** Width trials (static networks) choose among all their epochs; a λ trial or a
λ-path snapshot among the epochs after its last removal (its fine-tune, mostly), so the
rule selects for accuracy at a fixed size — early stopping — and never trades the size the
penalty reached for an earlier, larger network. The trial's objectives, its accuracies and
test scores and the network kept as its model (``studies.models``) are all that epoch's;
its history and costs still cover every epoch it trained.

The choice is made on the validation split only; the test split is evaluated on the chosen
network and never used to choose (``studies.compare`` scores each arm's validation-chosen
front on it).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.training.trainer import EpochRecord, Trainer, TrainResult

__all__ = ["BestEpoch", "Selected"]


@dataclass(frozen=True)
class Selected:
    """The network a trial keeps and its result.

    Attributes:
        result: the trial's result with the kept network's values (history and costs of
            every epoch trained).
        model: the kept network.
        epoch: the kept epoch, numbered along the trial; ``None`` when it is the last one.
    """

    result: TrainResult
    model: ShrinkNet
    epoch: int | None


class BestEpoch:
    """Keeps a copy of the network at its best validation epoch at the current widths.

    Fed every epoch (numbered along the trial) with the trainer that ran it; when the
    widths change the selection starts again, so the copy kept is always at the widths of
    the latest epoch. The copy costs one ``deepcopy`` per improving epoch (small networks).
    """

    def __init__(self) -> None:
        self.model: ShrinkNet | None = None
        self.record: EpochRecord | None = None

    def observe(self, trainer: Trainer, record: EpochRecord) -> None:
        """Look at one finished epoch (``record.epoch`` numbered along the trial)."""
        if not math.isfinite(record.val_loss):
            return
        kept = self.record
        if kept is None or list(record.widths) != list(kept.widths) \
                or record.val_loss < kept.val_loss:
            self.model = copy.deepcopy(trainer.model)
            self.record = record

    def select(self, trainer: Trainer, result: TrainResult) -> Selected:
        """The trial's network: the kept epoch's when it is at the final widths and better
        on validation than the last epoch, else the final network ``result`` describes.

        Args:
            trainer: the trainer of the trial's last phase (evaluates the kept copy).
            result: the trial's result as training ended (history and costs are kept).
        """
        kept, model = self.record, self.model
        if (kept is None or model is None
                or list(kept.widths) != list(result.final_widths)
                or not kept.val_loss < result.val_loss):
            return Selected(result, trainer.model, None)
        test_loss = test_acc = None
        if trainer.has_test:
            test_loss, test_acc = trainer.evaluate("test", model=model)
        chosen = replace(
            result, val_loss=kept.val_loss, val_accuracy=kept.val_accuracy,
            test_loss=test_loss, test_accuracy=test_acc, params=kept.params,
        )
        return Selected(chosen, model, kept.epoch)
