"""Resumable training: what ``Trainer.state_dict`` saves and how ``load_state_dict`` restores it.

A shrunk network cannot take a fresh model's ``load_state_dict`` directly: its removals are
replayed first (:func:`~shrinknets_core.removal._remove.replay_removals`), then the optimizer is
pointed at the replayed parameters and its saved state (Adam moments etc.) loaded.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.removal._remove import RemovalRecord, replay_removals
from shrinknets_core.removal.dead import DeadRule
from shrinknets_core.training._history import EpochRecord
from shrinknets_core.training._optim import BetaProx, weight_parameters
from shrinknets_core.training._train_config import TrainConfig

__all__ = ["Resumable", "load_trainer_state", "trainer_state"]


class Resumable(Protocol):
    """What saving and restoring reads and writes of a trainer
    (``shrinknets_core.training.trainer.Trainer``)."""

    model: ShrinkNet
    optimizer: torch.optim.Optimizer
    dead_rule: DeadRule
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    beta_prox: BetaProx | None
    config: TrainConfig
    epoch: int
    step: int
    best_val: float
    bad_epochs: int
    history: list[EpochRecord]
    settled_since: list[tuple[int, int]]


def trainer_state(trainer: Resumable) -> dict[str, Any]:
    """Model, removal log, optimizer, dead rule, scheduler, counters, history, RNG."""
    return {
        "model": trainer.model.state_dict(),
        "removal_log": [r.to_dict() for r in trainer.model.removal_log],
        "optimizer": trainer.optimizer.state_dict(),
        "dead_rule": trainer.dead_rule.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler else None,
        "epoch": trainer.epoch,
        "step": trainer.step,
        "best_val": trainer.best_val,
        "bad_epochs": trainer.bad_epochs,
        "history": [r.to_dict() for r in trainer.history],
        "torch_rng": torch.get_rng_state(),
        "config": trainer.config.to_dict(),
        "frozen": [i for i, sw in enumerate(trainer.model.switches()) if sw.frozen],
        "settled_since": [list(s) for s in trainer.settled_since],
    }


def load_trainer_state(trainer: Resumable, state: dict[str, Any]) -> None:
    """Restore :func:`trainer_state` output into a trainer built on a fresh model.

    Raises:
        ConfigError: the trainer's model already has removals that are not a prefix of the
            saved log, or its optimizer has several param groups (cannot be re-pointed).
    """
    log = [RemovalRecord.from_dict(d) for d in state["removal_log"]]
    done = len(trainer.model.removal_log)
    if [r.to_dict() for r in trainer.model.removal_log] != [r.to_dict() for r in log[:done]]:
        raise ConfigError(
            "load_state_dict: the trainer's model has a removal log that is not a prefix of "
            "the saved one; build a fresh model with build_model(spec) and a new Trainer"
        )
    if log[done:]:
        replay_removals(trainer.model, log[done:])
        _repoint_optimizer(trainer)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.dead_rule.load_state_dict(state["dead_rule"])
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.epoch, trainer.step = int(state["epoch"]), int(state["step"])
    trainer.best_val, trainer.bad_epochs = float(state["best_val"]), int(state["bad_epochs"])
    trainer.history = [EpochRecord.from_dict(d) for d in state["history"]]
    switches = trainer.model.switches()
    for i in state.get("frozen", []):  # states saved before freezing existed have none
        switches[i].freeze()
    trainer.settled_since = [(int(w), int(s)) for w, s in state.get("settled_since", [])]
    torch.set_rng_state(state["torch_rng"])


def _repoint_optimizer(trainer: Resumable) -> None:
    """Point the optimizer's single param group at the model's (replayed) parameters."""
    optimizer = trainer.optimizer
    if len(optimizer.param_groups) != 1:
        raise ConfigError(
            "load_state_dict after removals needs a weight optimizer with one param group; "
            f"this one has {len(optimizer.param_groups)}"
        )
    model = trainer.model
    params = weight_parameters(model) if trainer.beta_prox else list(model.parameters())
    optimizer.param_groups[0]["params"] = list(params)
    optimizer.state.clear()
