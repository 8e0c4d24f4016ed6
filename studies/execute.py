"""Running studies: what a worker calls (ask, run, tell) and the in-process runner.

A study's spec lives in the Optuna storage (study user attribute ``spec``), so any process
can rebuild the same sampler and pruner with :func:`open_study` and run trials with
:func:`ask_trial` / :func:`run_trial` / ``study.tell``. Each trial stores, as user
attributes readable by the ``optuna`` CLI: ``history`` (one dict per epoch: widths,
val_loss, val_accuracy, params, macs_per_sample, wall_time_s, cost_macs, ...; updated
every epoch so progress is visible), ``final_widths``, ``params``, ``cost_macs``,
``cost_inputs``, ``wall_time_s``, ``lam`` (λ kinds) and ``dataset`` (the dataset's label,
which says "stand-in for …" where it is one).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError, StopTraining
from shrinknets_core.training.trainer import EpochRecord
from studies._mo_asha import MoAshaCheck
from studies._search_space import suggest, train_config
from studies._trial import TrialStopped, trial_seed
from studies._warm_start import warm_started_trial
from studies.arms import ARM_LABELS, arm_of
from studies.budget import exhausted, spent
from studies.lambda_path import run_lambda_path
from studies.models import ModelKeeper
from studies.objectives import (
    EpochHook,
    load_study_data,
    objective_values,
    result_attrs,
    selected_epoch,
    train_trial,
)
from studies.sampling import (
    ask_trial,
    create_study,
    make_pruner,
    make_sampler,
    open_study,
    spec_of,
)
from studies.spec import PATH_KINDS, StudySpec
from studies.writes import Patience, TrialWriter

__all__ = [
    "TrialStopped",
    "ask_trial",
    "create_study",
    "make_pruner",
    "make_sampler",
    "open_study",
    "run_lambda_path",
    "run_study",
    "run_trial",
    "spec_of",
]


class _PruneCheck:
    """Reports each epoch's val loss to Optuna; stops training when the pruner says so."""

    stop_reason = "pruned"

    def __init__(self, writer: TrialWriter, *, report: bool) -> None:
        self.writer = writer
        self.report = report
        self.pruned = False

    def __call__(self, record: EpochRecord) -> None:
        if not self.report:
            return
        self.writer.report(float(record.val_loss), record.epoch)
        if self.writer.should_prune():
            self.pruned = True
            raise StopTraining(f"pruned by Optuna at epoch {record.epoch}")


def run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: StudySpec,
    *,
    device: str | None = None,
    on_epoch: EpochHook | None = None,
    models: ModelKeeper | None = None,
    patience: Patience | None = None,
    checkpoints: Any | None = None,
) -> list[float]:
    """Sample a trial's parameters, train it, store its attributes, return its objectives.

    Args:
        study: the trial's study.
        trial: a trial from :func:`ask_trial` (or ``study.ask()``).
        spec: the study's spec.
        device: overrides ``training.device`` (e.g. ``"cuda:1"`` for this worker).
        on_epoch: called with each :class:`EpochRecord` after the trial's own bookkeeping;
            raising ``StopTraining`` cancels the trial.
        models: keeps the trained network as artifacts of the trial (``studies.models``)
            when it completes; ``None`` keeps nothing.
        patience: rides out a storage outage (``studies.writes``): per-epoch writes
            that fail transiently are kept and training goes on; the final writes wait
            for the storage. ``None``: every storage error raises.
        checkpoints: the study's Optuna artifact store, where a λ search with
            ``search.warm_start`` keeps its warm-up (``studies._warm_start``; ``None``:
            this process keeps it).

    Returns:
        ``[val_loss]`` or ``[val_loss, params]`` for ``study.tell``.

    Raises:
        TrialStopped: ``on_epoch`` raised ``StopTraining``.
        optuna.TrialPruned: the study's pruner stopped the trial (single objective only).
        DatasetError, ConfigError: bad data or settings.
    """
    plan = suggest(trial, spec)
    config = train_config(spec, plan, seed=trial_seed(spec, trial.number), device=device)
    writer = TrialWriter(trial, patience)
    prune = _PruneCheck(writer, report=not spec.multi_objective)
    history: list[dict[str, Any]] = []

    def store(record: EpochRecord) -> None:
        history.append(record.to_dict())
        writer.set_attr("history", list(history))

    hooks: list[EpochHook] = [store, prune]
    if spec.search.pruner == "mo_asha":
        hooks.append(MoAshaCheck(study, trial.number,
                                 epochs=spec.training.epochs + spec.training.finetune_epochs,
                                 eta=spec.search.eta, multi_objective=spec.multi_objective))
    if on_epoch is not None:
        hooks.append(on_epoch)
    if plan.switches and spec.search.kind == "lambda" and spec.search.warm_start.enabled:
        run = warm_started_trial(
            study, trial.number, spec, plan, seed=config.seed, hooks=hooks,
            warmup_hooks=[h for h in hooks if h is not prune], device=device,
            store=checkpoints,
        )
    else:
        run = train_trial(spec, plan, config, hooks=hooks)
    result = run.result
    writer.set_attr("history", run.history)
    attrs = result_attrs(spec, result, plan)
    attrs["selected_epoch"] = selected_epoch(run)
    for key, value in attrs.items():
        writer.set_attr(key, value)
    if (run.stopped_by is None and spec.search.kind == "target_size"
            and spec.search.target_params is not None):
        writer.set_attr("meets_target", result.params <= spec.search.target_params)
    writer.settle()
    if run.stopped_by == "pruned":
        raise optuna.TrialPruned(f"pruned at epoch {len(run.history)}")
    if run.stopped_by is not None:
        raise TrialStopped(
            f"trial {trial.number} of study {study.study_name!r} was stopped after "
            f"{len(run.history)} epoch(s) ({run.stopped_by})"
        )
    values = objective_values(spec, result)
    if models is not None:
        models.save_trial(trial, spec, load_study_data(spec), run.model, attrs, values)
    return values


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against the budget: complete and pruned (failed ones are retried)."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _load_or_create(spec: StudySpec, storage: str | BaseStorage, study_name: str) -> optuna.Study:
    try:
        study = open_study(study_name, storage)
    except KeyError:
        return create_study(spec, storage, study_name=study_name)
    stored = spec_of(study)
    if stored != spec:
        raise ConfigError(
            f"study {study_name!r} already exists in this storage with a different spec; "
            "pass another study name (--study-name) or the same spec to resume it"
        )
    return study


def run_study(
    spec: StudySpec,
    storage: str | BaseStorage,
    *,
    study_name: str | None = None,
    progress: bool = True,
    device: str | None = None,
    models: ModelKeeper | None = None,
    checkpoints: Any | None = None,
) -> optuna.Study:
    """Run a whole study in this process until its budget is spent; resumes if it exists.

    Trials are asked, trained and told one at a time until the budget is spent
    (``studies.budget``: trials, MACs or seconds), one attempt per trial still missing
    from the trial budget (complete and pruned trials count; a trial whose loss is not finite is
    told and ends ``FAIL``; an exception tells ``FAIL`` and is raised, so a bad dataset stops
    the run at once; running it again retries). Path studies (``lambda_path``,
    ``prune_path``) run :func:`run_lambda_path`.

    Args:
        spec: the validated spec.
        storage: an Optuna storage or URL.
        study_name: defaults to ``spec.name``.
        progress: show a tqdm progress bar (trials, with the current epoch).
        device: overrides ``training.device``.
        models: keeps each complete trial's network (``studies.models``); None: none.
        checkpoints: an Optuna artifact store for a λ path's checkpoints and a λ search's
            warm-up (``None``: kept in this process only).

    Returns:
        The study.

    Raises:
        ConfigError: the study exists with a different spec.
    """
    from tqdm.auto import tqdm

    name = study_name or spec.name
    study = _load_or_create(spec, storage, name)
    budget = spec.search.trial_budget
    if spec.search.kind in PATH_KINDS:
        steps = spec.search.path_epochs_per_step
        warm = spec.search.path.warmup_epochs
        of_total = f"/{(spec.training.epochs if warm is None else warm) + budget * steps:g}"
    else:
        of_total = f"/{spec.training.epochs + spec.training.finetune_epochs}"
    bar = tqdm(
        total=None if spec.search.n_trials is None else budget,
        desc=f"{name} ({ARM_LABELS[arm_of(spec)]})",
        unit="trial",
        disable=not progress,
    )

    def show(record: EpochRecord) -> None:
        bar.set_postfix_str(
            f"epoch {record.epoch}{of_total} widths {record.widths} val_loss {record.val_loss:.4g}"
        )

    try:
        if spec.search.kind in PATH_KINDS:

            def step_done(record: EpochRecord) -> None:
                show(record)
                stored = finished_trials(study)
                if stored > bar.n:
                    bar.update(stored - bar.n)

            run_lambda_path(study, spec, device=device, on_epoch=step_done, models=models,
                            checkpoints=checkpoints)
            bar.update(finished_trials(study) - bar.n)
            return study
        done = finished_trials(study)
        bar.update(done)
        # one attempt per missing trial: a diverged trial (NaN loss) is told and ends FAIL
        # instead of being retried forever
        for _ in range(max(budget - done, 0)):
            if exhausted(spec, spent(study.get_trials(deepcopy=False))) is not None:
                break
            trial = ask_trial(study, spec)
            try:
                values = run_trial(study, trial, spec, device=device, on_epoch=show,
                                   models=models, checkpoints=checkpoints)
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)
                raise
            else:
                study.tell(trial, values)
                if models is not None:
                    models.prune(study)
            bar.update(1)
    finally:
        bar.close()
    return study
