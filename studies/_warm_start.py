"""λ search from one shared warm start: the λ = 0 warm-up is trained once per study.

Plain λ search starts every trial from a fresh ``max_width`` network, so every trial pays
for a full-width training before its λ has shrunk anything. With
``search.warm_start.enabled`` the study's first trial trains the full-width ShrinkNet at
λ = 0 for ``warm_start.warmup_epochs`` (default ``training.epochs``) and stores its
state — network, weight optimizer (Adam moments included) and dead rule — as an artifact
of the study (study attribute ``lambda_warm_start``, ``studies._checkpoints``). Every λ
trial then starts from that state and trains ``warm_start.lam_epochs`` at its own λ and
``warm_start.finetune_epochs`` at λ = 0 (each a third of ``training.epochs`` by default:
5 and 5 for 15 epochs, as measured in ``docs/method.md`` §7), exactly as a λ-path step
continues the path's network.

Charged once: the warm-up's epochs are in the history and costs of the trial that trained
it (so its running cost counts against the budget as it trains), and in no other trial's.
Epochs are numbered along the network's life (a trial's first λ epoch follows the
warm-up's last), in every trial.

Trained once: the service's claims (``service.scheduler``) start no other trial of the
study while the trial training the warm-up runs and none is stored; if that trial dies,
its retry trains it. In one process (``run_study``) trials run one at a time. Workers on
other machines load the stored state from the artifact store; without a store the state
lives in this process only, and a process that finds it stored elsewhere says what to
set.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import optuna

from shrinknets_core.errors import ConfigError
from studies._checkpoints import load_checkpoint, save_checkpoint, trainer_from_state
from studies._search_space import TrialPlan, train_config
from studies._trial import trial_seed
from studies.objectives import (
    WARM_UP_SEED,
    EpochHook,
    TrialRun,
    for_epochs,
    merge_runs,
    train_trial,
    train_warm_up,
)
from studies.spec import WARM_START_ATTR, StudySpec

__all__ = ["warm_started_trial"]

_STATES: dict[str, dict[str, Any]] = {}  # warm-up states this process holds, by token
_KEPT = 8  # the most a long-lived worker keeps (a study's is read again from its store)


def warm_started_trial(
    study: optuna.Study, number: int, spec: StudySpec, plan: TrialPlan, *, seed: int,
    hooks: list[EpochHook], warmup_hooks: list[EpochHook], device: str | None,
    store: Any | None,
) -> TrialRun:
    """Train a λ trial from the study's warm-up, training the warm-up first if none is
    stored (then its epochs and costs are this trial's too).

    Args:
        study, number: the trial's study and number.
        spec, plan: the study's spec and the trial's sampled plan.
        seed: the trial's seed.
        hooks: per-epoch callbacks of the trial's own phases.
        warmup_hooks: per-epoch callbacks while training the warm-up (no pruner).
        device: overrides ``training.device``.
        store: the study's Optuna artifact store (``None``: this process keeps it).

    Returns:
        The trial's run; a hook that stopped the warm-up returns the warm-up's run.

    Raises:
        ConfigError: the warm-up is stored in another process without an artifact store.
    """
    _, lam_epochs, tune_epochs = spec.search.warm_start.epochs(spec.training.epochs)
    state, paid = _warm_state(study, number, spec, warmup_hooks, device, store)
    if paid is not None and paid.stopped_by is not None:
        return paid
    config = for_epochs(spec, train_config(spec, plan, seed=seed, device=device), lam_epochs)
    start = trainer_from_state(spec, copy.deepcopy(state), device, config)
    # the trial's own sampled settings, not the warm-up's (a searched lr or γ)
    for group in start.optimizer.param_groups:
        group["lr"] = config.lr
    if hasattr(start.dead_rule, "gamma"):
        start.dead_rule.gamma = config.gamma
    run = train_trial(
        spec, plan, config, hooks=hooks, model=start.model, optimizer=start.optimizer,
        dead_rule=start.dead_rule, epoch_offset=start.epoch,
        finetune_epochs=tune_epochs,
    )
    return merge_runs(paid, run) if paid is not None else run


def _warm_state(
    study: optuna.Study, number: int, spec: StudySpec, hooks: list[EpochHook],
    device: str | None, store: Any | None,
) -> tuple[dict[str, Any], TrialRun | None]:
    """The stored warm-up's trainer state, or a new one trained now (with its run)."""
    meta = study.user_attrs.get(WARM_START_ATTR)
    if meta:
        token = str(meta.get("token"))
        if token not in _STATES:
            saved = load_checkpoint(study, store, attr=WARM_START_ATTR)
            if saved is None:
                raise ConfigError(
                    f"study {study.study_name!r}: its λ warm-up was trained by trial "
                    f"{meta.get('trial')} and cannot be read here; give every worker the "
                    "same artifact store (SHRINKNETS_ARTIFACTS)"
                )
            _keep(token, saved["trainer"])
        return _STATES[token], None
    warm, _, _ = spec.search.warm_start.epochs(spec.training.epochs)
    run = train_warm_up(spec, warm, seed=trial_seed(spec, WARM_UP_SEED), hooks=hooks,
                        device=device)
    if run.stopped_by is not None:
        return {}, run
    state = copy.deepcopy(run.trainer.state_dict())
    token = uuid.uuid4().hex
    _keep(token, state)
    meta = {"trial": number, "token": token}
    if store is not None:
        save_checkpoint(study, store, {"trainer": state}, attr=WARM_START_ATTR,
                        label=f"trial{number}", meta=meta)
    else:
        study.set_user_attr(WARM_START_ATTR, {"artifact_id": None, **meta})
    return state, run


def _keep(token: str, state: dict[str, Any]) -> None:
    """Hold a warm-up state in this process, dropping the oldest beyond :data:`_KEPT`."""
    while len(_STATES) >= _KEPT:
        _STATES.pop(next(iter(_STATES)))
    _STATES[token] = state
