"""ShrinkNets: learn layer widths while training.

Per-neuron switches β, the penalty λ‖β‖₁ + λ₂‖θ‖ₚᵖ (and the group-sparsity
baseline), dead-neuron rules, physical removal of dead neurons during training
with the optimizer state sliced alongside, and a trainer that accounts the cost
of every epoch. This package knows nothing of Optuna or HTTP.

Public names are imported on first use, as optuna's ``_LazyImport`` does, so a
submodule without torch (``shrinknets_core.errors``) is imported without torch.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from shrinknets_core._lazy import lazy_attributes

if TYPE_CHECKING:
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

#: Public name → the module that defines it, imported on first use (PEP 562).
_EXPORTS: dict[str, str] = {
    "BatchEnd": "shrinknets_core.trainer",
    "ConfigError": "shrinknets_core.errors",
    "DatasetError": "shrinknets_core.errors",
    "DeadRule": "shrinknets_core.dead",
    "EpochRecord": "shrinknets_core.trainer",
    "InputSwitch": "shrinknets_core.switches",
    "MagnitudeRule": "shrinknets_core.dead",
    "ModelSpec": "shrinknets_core.models",
    "NoRule": "shrinknets_core.dead",
    "RemovalGroup": "shrinknets_core.removal",
    "RemovalRecord": "shrinknets_core.removal",
    "ShrinkNet": "shrinknets_core.models",
    "ShrinkNetsError": "shrinknets_core.errors",
    "SignVarianceRule": "shrinknets_core.dead",
    "StopTraining": "shrinknets_core.errors",
    "Switch": "shrinknets_core.switches",
    "TrainConfig": "shrinknets_core.trainer",
    "TrainResult": "shrinknets_core.trainer",
    "Trainer": "shrinknets_core.trainer",
    "build_model": "shrinknets_core.models",
    "fold": "shrinknets_core.fold",
    "group_penalty": "shrinknets_core.penalties",
    "load_checkpoint": "shrinknets_core.checkpoint",
    "make_dead_rule": "shrinknets_core.dead",
    "prox_step": "shrinknets_core.penalties",
    "read_checkpoint": "shrinknets_core.checkpoint",
    "remove_dead": "shrinknets_core.removal",
    "replay_removals": "shrinknets_core.removal",
    "resolve_device": "shrinknets_core.trainer",
    "save_checkpoint": "shrinknets_core.checkpoint",
    "shrink_penalty": "shrinknets_core.penalties",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, __all__)


class _Package(types.ModuleType):
    """Keeps a public name bound to its object when a submodule of the same name loads.

    The import system binds each loaded submodule to its name on the package; for
    ``fold`` (the function in ``shrinknets_core.fold``) that would replace the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
