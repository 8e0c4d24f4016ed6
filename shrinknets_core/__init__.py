"""ShrinkNets: learn layer widths while training.

Per-neuron switches β, the penalty λ‖β‖₁ + λ₂‖θ‖ₚᵖ (and the group-sparsity
baseline), dead-neuron rules, physical removal of dead neurons during training
with the optimizer state sliced alongside, and a trainer that accounts the cost
of every epoch. This package knows nothing of Optuna or HTTP.
"""

from shrinknets_core.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from shrinknets_core.dead import (
    DeadRule,
    MagnitudeRule,
    NoRule,
    SignVarianceRule,
    make_dead_rule,
)
from shrinknets_core.errors import ConfigError, DatasetError, ShrinkNetsError, StopTraining
from shrinknets_core.fold import fold
from shrinknets_core.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.penalties import group_penalty, prox_step, shrink_penalty
from shrinknets_core.removal import RemovalGroup, RemovalRecord, remove_dead, replay_removals
from shrinknets_core.switches import InputSwitch, Switch
from shrinknets_core.trainer import (
    BatchEnd,
    EpochRecord,
    TrainConfig,
    Trainer,
    TrainResult,
    resolve_device,
)

__all__ = [
    "BatchEnd",
    "ConfigError",
    "DatasetError",
    "DeadRule",
    "EpochRecord",
    "InputSwitch",
    "MagnitudeRule",
    "ModelSpec",
    "NoRule",
    "RemovalGroup",
    "RemovalRecord",
    "ShrinkNet",
    "ShrinkNetsError",
    "SignVarianceRule",
    "StopTraining",
    "Switch",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_model",
    "fold",
    "group_penalty",
    "load_checkpoint",
    "make_dead_rule",
    "prox_step",
    "read_checkpoint",
    "remove_dead",
    "replay_removals",
    "resolve_device",
    "save_checkpoint",
    "shrink_penalty",
]
