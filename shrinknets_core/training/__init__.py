"""Training a ShrinkNet: the trainer, its configuration, the penalties and the metrics.

:class:`Trainer` runs epochs of the data loss plus λ‖β‖₁ + λ₂‖θ‖ₚᵖ (or the group
penalty), the β step (layer-normalised gradient or proximal), the dead rule and removal,
and accounts every epoch's cost (:class:`EpochRecord`); its state round-trips through
``state_dict``/``load_state_dict``.
"""

from shrinknets_core.training.metrics import accuracy, mse, normalise_losses, sparsity
from shrinknets_core.training.penalties import (
    group_penalty,
    penalised_weights,
    prox_lambda_max,
    prox_step,
    shrink_penalty,
)
from shrinknets_core.training.trainer import (
    BatchEnd,
    EpochRecord,
    TrainConfig,
    Trainer,
    TrainResult,
    resolve_device,
)

__all__ = [
    "BatchEnd",
    "EpochRecord",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "accuracy",
    "group_penalty",
    "mse",
    "normalise_losses",
    "penalised_weights",
    "prox_lambda_max",
    "prox_step",
    "resolve_device",
    "shrink_penalty",
    "sparsity",
]
