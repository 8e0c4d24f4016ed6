"""Search budgets: a trial count, a compute budget in MACs, a wall budget in seconds.

A user pays for device time, not for trials, so a search may be given
``search.max_macs`` (hardware-independent: training MACs, forward+backward counted as 3×
forward, exactly the trainer's ``cost_macs``) and/or ``search.max_seconds`` (trainer
seconds), beside or instead of ``search.n_trials``.

What is charged: every trial the search ran — complete, pruned (only the epochs it
trained) and failed — plus what the RUNNING trials have reported so far (their per-epoch
``history``). A λ-path step is charged its own epochs (``search_cost_macs``).

The rule: **no trial starts once the budget is spent**. A trial that started before is
allowed to finish, so a search overshoots by at most what its running trials spend after
the budget ran out (:attr:`Spent.overshoot_macs` reports it). With K workers, the check
and the start of a trial happen under the study's lock (``service.storage``), so the rule
holds across processes and machines.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from optuna.trial import FrozenTrial, TrialState

from shrinknets_core.network.models import ModelSpec, build_model
from studies.spec import PATH_KINDS, StudySpec

__all__ = ["Spent", "exhausted", "least_trial_macs", "min_trial_macs", "spent", "trial_cost"]

_CHARGED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


@dataclass(frozen=True)
class Spent:
    """What a search has used so far.

    Attributes:
        trials: trials that count against ``n_trials`` (complete and pruned).
        macs: training MACs charged (see module docstring).
        seconds: trainer seconds charged.
        running: trials still running (their spending so far is included).
    """

    trials: int
    macs: float
    seconds: float
    running: int = 0

    def overshoot_macs(self, spec: StudySpec) -> float:
        """MACs spent beyond ``max_macs`` (0 without a MAC budget or when under it)."""
        limit = spec.search.max_macs
        return max(self.macs - limit, 0.0) if limit is not None else 0.0


def trial_cost(trial: FrozenTrial) -> tuple[float, float]:
    """``(macs, seconds)`` a trial has cost the search so far.

    A finished trial's ``search_cost_macs`` / ``search_wall_time_s`` user attributes (its
    total, or a λ-path step's own share; ``cost_macs`` / ``wall_time_s`` for trials stored
    before those existed), else the sum over its per-epoch ``history`` (a running or
    interrupted trial).
    """
    attrs = trial.user_attrs
    if trial.state != TrialState.RUNNING:
        for macs_key, wall_key in (("search_cost_macs", "search_wall_time_s"),
                                   ("cost_macs", "wall_time_s")):  # older trials: own total
            if macs_key in attrs:
                return float(attrs[macs_key]), float(attrs.get(wall_key, 0.0))
    history = attrs.get("history") or []
    macs = sum(float(h.get("cost_macs", 0.0)) for h in history)
    seconds = sum(float(h.get("wall_time_s", 0.0)) for h in history)
    return macs, seconds


def spent(trials: Iterable[FrozenTrial]) -> Spent:
    """Add up the budget used by a study's trials (WAITING trials cost nothing yet)."""
    count = running = 0
    macs = seconds = 0.0
    for t in trials:
        if t.state not in _CHARGED:
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            count += 1
        running += t.state == TrialState.RUNNING
        m, s = trial_cost(t)
        macs += m
        seconds += s
    return Spent(count, macs, seconds, running)


def exhausted(spec: StudySpec, used: Spent) -> str | None:
    """Why no further trial may start, or ``None`` while budget is left.

    The trial count counts complete and pruned trials only (a failed trial is replaced);
    the compute budgets count everything spent (module docstring).
    """
    search = spec.search
    if used.trials >= search.trial_budget:
        return f"trial budget spent ({used.trials} of {search.trial_budget} trials)"
    if search.max_macs is not None and used.macs >= search.max_macs:
        return f"compute budget spent ({used.macs:.4g} of {search.max_macs:.4g} MACs)"
    if search.max_seconds is not None and used.seconds >= search.max_seconds:
        return f"time budget spent ({used.seconds:.4g} of {search.max_seconds:.4g} s)"
    return None


@functools.lru_cache(maxsize=64)
def _macs_per_sample(mspec: ModelSpec) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return int(build_model(mspec).macs_per_sample())


def min_trial_macs(
    spec: StudySpec,
    *,
    n_train: int,
    n_features: int,
    n_outputs: int,
    image_shape: tuple[int, int, int] | None = None,
) -> float:
    """A lower bound on the MACs of one trial of this spec (for "budget too small" errors).

    * width kinds: every layer at width 1 for all ``epochs + finetune_epochs`` (with a
      pruner: one epoch, the smallest a pruned trial can train);
    * λ kinds: one epoch at ``max_width`` (no neuron can be removed before the first
      removal), the rest at width 1; a λ path: its warm-up and first step at full width.
    """
    arch, training, search = spec.architecture, spec.training, spec.search

    def per_epoch(width: int) -> float:
        mspec = ModelSpec(
            kind=arch.kind, in_features=n_features, out_features=n_outputs,
            hidden=(width,) * arch.depth, image_shape=image_shape if arch.kind == "cnn" else None,
            batchnorm=arch.batchnorm, switches=False,
        )
        return 3.0 * _macs_per_sample(mspec) * n_train

    if search.kind == "width":
        epochs = 1 if search.pruner != "none" else training.epochs + training.finetune_epochs
        return epochs * per_epoch(1)
    epochs = training.epochs + training.finetune_epochs
    if search.kind in PATH_KINDS:  # the warm-up and one step: the path's first trial
        path = search.path
        warm = training.epochs if path.warmup_epochs is None else path.warmup_epochs
        first = warm + search.path_epochs_per_step
        return first * per_epoch(arch.max_width)
    return per_epoch(arch.max_width) + max(epochs - 1, 0) * per_epoch(1)


def least_trial_macs(spec: StudySpec) -> float | None:
    """What one trial of ``spec`` costs at the least on its dataset (:func:`min_trial_macs`
    on the data the workers will train on; loaded once per process), or ``None`` when the
    dataset cannot be read here (its checks report that)."""
    from shrinknets_core.errors import ShrinkNetsError
    from studies.objectives import load_study_data

    try:
        data = load_study_data(spec)
    except (ShrinkNetsError, OSError, ValueError):
        return None
    return min_trial_macs(
        spec, n_train=len(data.x_train), n_features=data.n_features,
        n_outputs=data.n_outputs, image_shape=data.image_shape,
    )
