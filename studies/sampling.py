"""A study's Optuna side: its sampler, pruner and directions, created, opened and asked.

Torch-free (optuna, the spec and the target-size sampler only), so the processes that only
claim trials (the service's scheduler, ``bench/claim_load.py``) and the API that creates
studies never load the trainer. :mod:`studies.execute` runs the trials.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage

from shrinknets_core.errors import ConfigError
from studies.arms import ARM_LABELS, arm_of
from studies.spec import PATH_KINDS, StudySpec, load_spec
from studies.target_size import TargetSizeSampler

__all__ = [
    "ask_trial",
    "create_study",
    "make_pruner",
    "make_sampler",
    "open_study",
    "spec_of",
]


def make_sampler(spec: StudySpec, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler the spec asks for, seeded with ``seed`` (default ``search.seed``: a
    worker reseeds per trial so that processes do not all draw the same samples)."""
    search = spec.search
    seed = search.seed if seed is None else seed
    if search.kind == "target_size":
        assert search.target_params is not None  # guaranteed by SearchSpec validation
        return TargetSizeSampler(search.target_params, seed=seed)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The pruner the spec names, on the per-epoch validation loss (epochs from 1).

    * ``median``: ``MedianPruner`` after 2 complete trials and 1 warm-up epoch;
    * ``hyperband``: ``HyperbandPruner`` with epochs as the resource, from 1 to every epoch
      a trial trains, reduction factor 3 (Optuna's default): successive halving brackets
      that stop the worse trials after 1, 3, 9 … epochs;
    * ``mo_asha``, ``none``: ``NopPruner`` (MO-ASHA is not an Optuna pruner: Optuna refuses
      intermediate values in multi-objective studies, so :func:`run_trial` runs its rule,
      ``studies._mo_asha``, on the epochs as they end).
    """
    if spec.search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if spec.search.pruner == "hyperband":
        epochs = spec.training.epochs + spec.training.finetune_epochs
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(epochs, 1), reduction_factor=3
        )
    return optuna.pruners.NopPruner()


def _directions(spec: StudySpec) -> list[optuna.study.StudyDirection]:
    return [optuna.study.StudyDirection.MINIMIZE] * len(spec.search.objectives)


def create_study(
    spec: StudySpec, storage: str | BaseStorage, *, study_name: str | None = None
) -> optuna.Study:
    """Create a new Optuna study for a spec and store the spec in it.

    Study user attributes: ``spec`` (the spec as a JSON object), ``kind``, ``arm``
    (``studies.arms``), ``dataset``, ``n_trials``, ``label`` (e.g. "λ search") and
    ``objectives``.

    Args:
        spec: the validated spec.
        storage: an Optuna storage or URL.
        study_name: defaults to ``spec.name``.

    Raises:
        optuna.exceptions.DuplicatedStudyError: a study of that name exists.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=study_name or spec.name,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        directions=_directions(spec),
    )
    attrs: dict[str, Any] = {
        "spec": spec.model_dump(mode="json"),
        "kind": spec.search.kind,
        "arm": arm_of(spec),
        "dataset": spec.dataset.name,
        "n_trials": spec.search.n_trials,
        "label": ARM_LABELS[arm_of(spec)],
        "objectives": list(spec.search.objectives),
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


def spec_of(study: optuna.Study) -> StudySpec:
    """The spec stored in a study by :func:`create_study`.

    Raises:
        ConfigError: the study has no (valid) ``spec`` attribute — it was not created here.
    """
    raw = study.user_attrs.get("spec")
    if raw is None:
        raise ConfigError(
            f"study {study.study_name!r} has no 'spec' user attribute; "
            "create it with studies.create_study"
        )
    return load_spec(raw)


def open_study(
    study_name: str, storage: str | BaseStorage, *, spec: StudySpec | None = None
) -> optuna.Study:
    """Load an existing study with the sampler and pruner its stored spec asks for.

    Args:
        spec: The study's spec when the caller has it parsed already (the service's
            records cache it); else it is read from the study (:func:`spec_of`).

    Raises:
        KeyError: no study of that name (from Optuna).
        ConfigError: the study has no valid spec.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    if spec is None:
        spec = spec_of(study)
    study.sampler = make_sampler(spec)
    study.pruner = make_pruner(spec)
    return study


def ask_trial(study: optuna.Study, spec: StudySpec) -> optuna.Trial:
    """Create the next trial (``study.ask()``); :func:`run_trial` samples its parameters.

    For ``target_size`` studies loaded without :func:`open_study`, the bisection sampler
    is installed first (it keeps no state, so replacing the sampler is safe).

    Raises:
        ConfigError: the spec's kind is a path's (use :func:`run_lambda_path`).
    """
    if spec.search.kind in PATH_KINDS:
        raise ConfigError(
            f"search.kind {spec.search.kind!r} has no independent trials; run it with "
            "run_lambda_path"
        )
    if spec.search.kind == "target_size" and not isinstance(study.sampler, TargetSizeSampler):
        study.sampler = make_sampler(spec)
    return study.ask()
