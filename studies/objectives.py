"""Training one trial: data, model, trainer, per-epoch recording and the trial's attributes.

Both objectives (λ search and width search) and the λ-path steps go through
:func:`train_plan`, so they share the trainer, epochs, optimizer and λ₂; they differ only
in the :class:`~studies._search_space.TrialPlan`.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.errors import StopTraining
from shrinknets_core.network.models import ShrinkNet, build_model
from shrinknets_core.removal.dead import DeadRule
from shrinknets_core.training.trainer import EpochRecord, TrainConfig, Trainer, TrainResult
from studies._search_space import TrialPlan, fixed_plan, model_spec, train_config
from studies._selection import BestEpoch
from studies.spec import DatasetSpec, StudySpec

__all__ = [
    "WARM_UP_SEED",
    "EpochHook",
    "TrialRun",
    "continue_finetune",
    "fixed_config",
    "for_epochs",
    "load_study_data",
    "max_width_params",
    "merge_runs",
    "objective_values",
    "result_attrs",
    "selected_epoch",
    "train_plan",
    "train_trial",
    "train_warm_up",
]

EpochHook = Callable[[EpochRecord], None]
"""Called after every epoch; may raise ``StopTraining`` (stop) — any other error propagates."""


@functools.lru_cache(maxsize=4)
def _load_cached(key: str) -> Dataset:
    ds = DatasetSpec.model_validate_json(key)
    data = load_dataset(
        ds.path or ds.name, target_columns=ds.target_columns, task=ds.task, seed=ds.seed
    )
    return data if ds.max_rows is None else _subsample(data, ds.max_rows)


def _subsample(data: Dataset, max_rows: int) -> Dataset:
    """Keep at most ``max_rows`` rows, each split cut in proportion (splits are pre-shuffled)."""
    total = data.n_rows
    if total <= max_rows:
        return data
    keep = max_rows / total

    def head(x: torch.Tensor) -> torch.Tensor:
        return x[: max(1, round(len(x) * keep))]

    return replace(
        data,
        x_train=head(data.x_train), y_train=head(data.y_train),
        x_val=head(data.x_val), y_val=head(data.y_val),
        x_test=head(data.x_test), y_test=head(data.y_test),
        test_rows=None if data.test_rows is None else head(data.test_rows),
    )


def load_study_data(spec: StudySpec) -> Dataset:
    """The spec's dataset, loaded once per process (splits are deterministic per seed).

    Raises:
        DatasetError: the file is missing or malformed (from ``shrinknets_core``).
        ConfigError: bad loader arguments.
    """
    return _load_cached(spec.dataset.model_dump_json())


def build_trial_model(spec: StudySpec, plan: TrialPlan, data: Dataset, *, seed: int) -> ShrinkNet:
    """The network a plan starts training from."""
    mspec = model_spec(
        spec,
        plan,
        n_features=data.n_features,
        n_outputs=data.n_outputs,
        image_shape=data.image_shape,
    )
    return build_model(mspec, seed=seed)


class _Recorder:
    """The trainer's ``on_epoch_end`` callback: keeps the history and runs the hooks.

    ``stopped_by`` is set to ``"hook"`` when a hook asked to stop (cancellation) — the
    trainer turns the ``StopTraining`` into a clean end of training.
    """

    def __init__(self, hooks: list[EpochHook], *, epoch_offset: int = 0,
                 best: BestEpoch | None = None) -> None:
        self.hooks = hooks
        self.offset = epoch_offset
        self.best = best
        self.history: list[dict[str, Any]] = []
        self.stopped_by: str | None = None

    def __call__(self, trainer: Trainer, record: EpochRecord) -> None:
        # hooks and history see epochs numbered along the whole trial (all phases)
        record = replace(record, epoch=record.epoch + self.offset)
        entry = record.to_dict()
        entry["lam"] = trainer.config.lam
        self.history.append(entry)
        if self.best is not None:
            self.best.observe(trainer, record)
        for hook in self.hooks:
            try:
                hook(record)
            except StopTraining:
                self.stopped_by = self.stopped_by or hook_name(hook)
                raise


def hook_name(hook: EpochHook) -> str:
    """The reason a hook stopped training (its ``stop_reason`` attribute or ``"cancelled"``)."""
    return str(getattr(hook, "stop_reason", "cancelled"))


def train_plan(
    spec: StudySpec,
    plan: TrialPlan,
    config: TrainConfig,
    *,
    hooks: list[EpochHook],
    model: ShrinkNet | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    dead_rule: DeadRule | None = None,
    epoch_offset: int = 0,
    best: BestEpoch | None = None,
) -> tuple[TrainResult, _Recorder, Trainer]:
    """Train a plan (or continue training ``model`` with ``optimizer``) and record each epoch.

    Args:
        spec: the study spec (dataset, architecture).
        plan: the sampled settings.
        config: trainer options (see ``_search_space.train_config``).
        hooks: per-epoch callbacks, in order; a ``StopTraining`` from one ends training.
        model, optimizer, dead_rule: continue from an existing network, its optimizer and
            its dead-neuron rule (λ path): training goes on as one run.
        epoch_offset: added to epoch numbers in the recorded history.
        best: shown every epoch, to keep the trial's network (``studies._selection``).

    Returns:
        ``(result, recorder, trainer)``; ``recorder.stopped_by`` says whether a hook stopped.
    """
    data = load_study_data(spec)
    if model is None:
        model = build_trial_model(spec, plan, data, seed=config.seed)
    trainer = Trainer(model, data, config, optimizer=optimizer)
    if dead_rule is not None:
        # A fresh rule would start its sign statistics from the current β; a β already
        # parked at 0 by the proximal step then never dies. Keep the run's own rule.
        trainer.dead_rule = dead_rule
    recorder = _Recorder(hooks, epoch_offset=epoch_offset, best=best)
    trainer.add_callback("on_epoch_end", recorder)
    try:
        return trainer.fit(), recorder, trainer
    finally:  # a trainer fitted again later (a continued fine-tune) records elsewhere
        trainer.remove_callback("on_epoch_end", recorder)


@dataclass
class TrialRun:
    """A trial's training: both phases merged.

    Attributes:
        result: the kept network's result (``studies._selection``: its best validation
            epoch at its final widths); history, costs and wall time cover both phases.
        history: per-epoch dicts (epochs numbered along the trial, ``lam`` per epoch).
        stopped_by: ``None``, ``"pruned"`` or the reason a hook stopped training.
        trainer: the λ phase's trainer (its model/optimizer/rule continue a λ path).
        model: the network the trial keeps (of the fine-tune, which trains a copy when
            ``branch``).
        selected_epoch: the kept epoch, numbered along the trial (``None``: the last).
        finetuner: the fine-tune phase's trainer (``None`` without one): fitting it for
            more epochs continues the fine-tune exactly (``studies.lambda_path``).
        best: the selection, to go on with a continued fine-tune.
    """

    result: TrainResult
    history: list[dict[str, Any]]
    stopped_by: str | None
    trainer: Trainer
    model: ShrinkNet
    selected_epoch: int | None = None
    finetuner: Trainer | None = None
    best: BestEpoch | None = None


def _merge(first: TrainResult, second: TrainResult) -> TrainResult:
    return replace(
        second,
        history=first.history + second.history,
        cost_macs=first.cost_macs + second.cost_macs,
        cost_inputs=first.cost_inputs + second.cost_inputs,
        wall_time_s=first.wall_time_s + second.wall_time_s,
        stopped_early=first.stopped_early or second.stopped_early,
    )


def train_trial(
    spec: StudySpec,
    plan: TrialPlan,
    config: TrainConfig,
    *,
    hooks: list[EpochHook],
    model: ShrinkNet | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    dead_rule: DeadRule | None = None,
    epoch_offset: int = 0,
    branch: bool = False,
    finetune_epochs: int | None = None,
) -> TrialRun:
    """Train a plan: the λ phase, then for λ trials ``training.finetune_epochs`` at λ = 0.

    The fine-tune phase continues the shrunk network with the same optimizer and dead rule
    and λ = 0: it undoes the L1 shrinkage of the surviving β (like a relaxed lasso) while
    dead neurons stay removed. Width trials have no second phase (their config already
    holds ``epochs + finetune_epochs``), so every trial trains the same number of epochs.

    Args:
        spec, plan, config, hooks, model, optimizer, dead_rule, epoch_offset: as
            :func:`train_plan` (for the λ phase).
        branch: fine-tune a copy (model, optimizer and rule copied together), leaving the
            λ phase's trainer untouched for a λ path to continue from.
        finetune_epochs: overrides ``training.finetune_epochs`` (a λ path's own setting).

    Returns:
        The merged :class:`TrialRun`.
    """
    best = BestEpoch()
    result, recorder, trainer = train_plan(
        spec,
        plan,
        config,
        hooks=hooks,
        model=model,
        optimizer=optimizer,
        dead_rule=dead_rule,
        epoch_offset=epoch_offset,
        best=best,
    )
    extra = spec.training.finetune_epochs if finetune_epochs is None else finetune_epochs
    if not plan.switches or extra == 0 or recorder.stopped_by is not None:
        kept = best.select(trainer, result)
        return TrialRun(kept.result, recorder.history, recorder.stopped_by, trainer,
                        kept.model, kept.epoch, None, best)
    state = (trainer.model, trainer.optimizer, trainer.dead_rule)
    if branch:
        state = copy.deepcopy(state)  # one deepcopy keeps the optimizer on the copied params
    tuned, recorder2, finetuner = train_plan(
        spec,
        plan,
        replace(config, lam=0.0, epochs=extra, seed=config.seed + 1, max_steps=None),
        hooks=hooks,
        model=state[0],
        optimizer=state[1],
        dead_rule=state[2],
        epoch_offset=epoch_offset + len(recorder.history),
        best=best,
    )
    history = recorder.history + recorder2.history
    kept = best.select(finetuner, _merge(result, tuned))
    return TrialRun(kept.result, history, recorder2.stopped_by, trainer, kept.model,
                    kept.epoch, finetuner, best)


def continue_finetune(
    tuner: Trainer, best: BestEpoch, epochs: int, *, hooks: list[EpochHook],
    epoch_offset: int,
) -> TrialRun:
    """Fine-tune ``epochs`` more with a trial's fine-tune trainer (``TrialRun.finetuner``),
    continuing it exactly (same optimizer, dead rule and epoch-seeded batch order): the
    network equals an uninterrupted fine-tune of the summed length. The kept network is
    chosen by ``best`` among all the fine-tune's epochs (``studies._selection``).

    Args:
        tuner, best: the trial's ``finetuner`` and ``best`` (both go on being updated).
        epochs: how many more epochs.
        hooks: per-epoch callbacks, as :func:`train_plan`'s.
        epoch_offset: the trial's last epoch number: the new epochs are numbered after it.

    Returns:
        A :class:`TrialRun` whose history and costs are this continuation's alone.
    """
    recorder = _Recorder(hooks, epoch_offset=epoch_offset - tuner.epoch, best=best)
    tuner.add_callback("on_epoch_end", recorder)
    before = len(tuner.history)
    try:
        tuner.config = replace(tuner.config, epochs=tuner.epoch + epochs)
        whole = tuner.fit()
    finally:
        tuner.remove_callback("on_epoch_end", recorder)
    mine = whole.history[before:]
    result = replace(whole, history=mine, cost_macs=sum(r.cost_macs for r in mine),
                     cost_inputs=sum(r.live_inputs for r in mine))
    kept = best.select(tuner, result)
    return TrialRun(kept.result, recorder.history, recorder.stopped_by, tuner, kept.model,
                    kept.epoch, tuner, best)


@functools.lru_cache(maxsize=64)
def _params_at_max_width(key: str, n_features: int, n_outputs: int, image: Any) -> int:
    spec = StudySpec.model_validate_json(key)
    plan = TrialPlan((spec.architecture.max_width,) * spec.architecture.depth, False, 0.0, 0, 0)
    mspec = model_spec(spec, plan, n_features=n_features, n_outputs=n_outputs, image_shape=image)
    with torch.device("meta"):  # shapes only
        return int(build_model(mspec).param_count())


def max_width_params(spec: StudySpec, data: Dataset) -> int:
    """Parameters of the static network with every layer at ``max_width``: the largest net
    any arm of the spec can return (the comparison's size reference)."""
    return _params_at_max_width(
        spec.model_dump_json(), data.n_features, data.n_outputs, data.image_shape
    )


def result_attrs(spec: StudySpec, result: TrainResult, plan: TrialPlan) -> dict[str, Any]:
    """The trial user attributes of a finished training (JSON types only)."""
    data = load_study_data(spec)
    attrs: dict[str, Any] = {
        "final_widths": list(result.final_widths),
        "initial_widths": list(plan.widths),
        "params": int(result.params),
        "val_loss": float(result.val_loss),
        "val_accuracy": result.val_accuracy,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "cost_macs": int(result.cost_macs),
        "cost_inputs": float(result.cost_inputs),
        "wall_time_s": float(result.wall_time_s),
        "search_cost_macs": int(result.cost_macs),
        "search_wall_time_s": float(result.wall_time_s),
        "stopped_early": result.stopped_early,
        "dataset": data.label,
        "max_params": max_width_params(spec, data),
    }
    if plan.switches:
        attrs["lam"] = float(plan.lam)
        attrs["gamma"] = float(plan.gamma)
    attrs["lr"] = float(plan.lr)
    # round-trip through JSON so every value is storable (no tensors / numpy scalars)
    return dict(json.loads(json.dumps(attrs)))


def for_epochs(spec: StudySpec, config: TrainConfig, epochs: float) -> TrainConfig:
    """``config`` limited to ``epochs`` (fractional: that share of an epoch's batches)."""
    per_epoch = math.ceil(len(load_study_data(spec).x_train) / spec.training.batch_size)
    return replace(config, epochs=max(1, math.ceil(epochs)),
                   max_steps=max(1, round(epochs * per_epoch)))


def fixed_config(spec: StudySpec, lam: float, epochs: float, *, seed: int,
                 device: str | None) -> tuple[TrialPlan, TrainConfig]:
    """The full-width plan at ``lam`` and its trainer options for ``epochs`` (fractional:
    :func:`for_epochs`): a λ-path step's, or a warm-up's at λ = 0."""
    plan = fixed_plan(spec, lam)
    return plan, for_epochs(spec, train_config(spec, plan, seed=seed, device=device), epochs)


#: The ``trial_seed`` index of a warm-up (a λ path adds its restart count).
WARM_UP_SEED = 10_000


def train_warm_up(
    spec: StudySpec, epochs: float, *, seed: int, hooks: list[EpochHook], device: str | None,
) -> TrialRun:
    """Build the ``max_width`` ShrinkNet with ``seed`` and train it at λ = 0 for ``epochs``:
    the first phase of a λ path and λ search's shared warm start. Its trainer
    (``TrialRun.trainer``) holds the network, optimizer and dead rule to go on from."""
    plan, config = fixed_config(spec, 0.0, epochs, seed=seed, device=device)
    model = build_trial_model(spec, plan, load_study_data(spec), seed=seed)
    return train_trial(spec, plan, config, hooks=hooks, model=model, branch=True,
                       finetune_epochs=0)


def merge_runs(first: TrialRun, second: TrialRun) -> TrialRun:
    """``second`` preceded by ``first`` (a warm-up the trial paid for): histories and costs
    added up, everything else ``second``'s."""
    return replace(second, result=_merge(first.result, second.result),
                   history=first.history + second.history)


def selected_epoch(run: TrialRun) -> int | None:
    """The epoch whose network ``run`` keeps, numbered along the trial (its
    ``selected_epoch`` attribute; ``None`` when it trained no epoch)."""
    if run.selected_epoch is not None:
        return run.selected_epoch
    return int(run.history[-1]["epoch"]) if run.history else None


def objective_values(spec: StudySpec, result: TrainResult) -> list[float]:
    """``[val_loss]`` or ``[val_loss, params]``, as the spec's objectives ask."""
    values = [float(result.val_loss)]
    if spec.multi_objective:
        values.append(float(result.params))
    return values
