"""ShrinkNets: learn layer widths while training.

Per-neuron switches β, the penalty λ‖β‖₁ + λ₂‖θ‖ₚᵖ (and the group-sparsity
baseline), dead-neuron rules, physical removal of dead neurons during training
with the optimizer state sliced alongside, and a trainer that accounts the cost
of every epoch. This package knows nothing of Optuna or HTTP.

Concepts, one sub-package each: ``network`` (spec, switches, the ShrinkNet, neuron
prices), ``removal`` (dead rules, physical removal with the optimizer state, folding),
``training`` (the trainer, penalties, metrics), ``export`` (checkpoints, exported
networks, predictions) and ``datasets``. Each lower one imports nothing from the ones
after it (``network`` ← ``removal`` ← ``training``; ``export`` uses the first two).

Public names are imported on first use, as optuna's ``_LazyImport`` does, so a
submodule without torch (``shrinknets_core.errors``) is imported without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shrinknets_core._lazy import lazy_attributes

if TYPE_CHECKING:
    from shrinknets_core.errors import ConfigError, DatasetError, ShrinkNetsError, StopTraining
    from shrinknets_core.export import load_checkpoint, read_checkpoint, save_checkpoint
    from shrinknets_core.network import InputSwitch, ModelSpec, ShrinkNet, Switch, build_model
    from shrinknets_core.removal import (
        DeadRule,
        MagnitudeRule,
        NoRule,
        RemovalGroup,
        RemovalRecord,
        SignVarianceRule,
        fold,
        make_dead_rule,
        remove_dead,
        replay_removals,
    )
    from shrinknets_core.training import (
        BatchEnd,
        EpochRecord,
        TrainConfig,
        Trainer,
        TrainResult,
        group_penalty,
        prox_step,
        resolve_device,
        shrink_penalty,
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

#: Public name → the module that defines it, imported on first use (PEP 562).
_EXPORTS: dict[str, str] = {
    "BatchEnd": "shrinknets_core.training",
    "ConfigError": "shrinknets_core.errors",
    "DatasetError": "shrinknets_core.errors",
    "DeadRule": "shrinknets_core.removal",
    "EpochRecord": "shrinknets_core.training",
    "InputSwitch": "shrinknets_core.network",
    "MagnitudeRule": "shrinknets_core.removal",
    "ModelSpec": "shrinknets_core.network",
    "NoRule": "shrinknets_core.removal",
    "RemovalGroup": "shrinknets_core.removal",
    "RemovalRecord": "shrinknets_core.removal",
    "ShrinkNet": "shrinknets_core.network",
    "ShrinkNetsError": "shrinknets_core.errors",
    "SignVarianceRule": "shrinknets_core.removal",
    "StopTraining": "shrinknets_core.errors",
    "Switch": "shrinknets_core.network",
    "TrainConfig": "shrinknets_core.training",
    "TrainResult": "shrinknets_core.training",
    "Trainer": "shrinknets_core.training",
    "build_model": "shrinknets_core.network",
    "fold": "shrinknets_core.removal",
    "group_penalty": "shrinknets_core.training",
    "load_checkpoint": "shrinknets_core.export",
    "make_dead_rule": "shrinknets_core.removal",
    "prox_step": "shrinknets_core.training",
    "read_checkpoint": "shrinknets_core.export",
    "remove_dead": "shrinknets_core.removal",
    "replay_removals": "shrinknets_core.removal",
    "resolve_device": "shrinknets_core.training",
    "save_checkpoint": "shrinknets_core.export",
    "shrink_penalty": "shrinknets_core.training",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, __all__)
