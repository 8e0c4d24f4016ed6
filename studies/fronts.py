"""A study's best trials and its (validation loss, parameters) Pareto front.

The domain rule the API shows (``GET /studies/{id}``) and reports use: which complete
trials are best, and which lie on the loss–size front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from studies.pareto import pareto_front

__all__ = ["best_trials", "loss_size_front"]


def _loss_and_size(trial: FrozenTrial) -> tuple[float, int] | None:
    """A complete trial's loss and parameter count (the ``params`` attr, else its second
    objective); None when it has no finite loss or no size."""
    if trial.state != TrialState.COMPLETE or not trial.values:
        return None
    loss = trial.values[0]
    size = trial.user_attrs.get("params")
    if size is None and len(trial.values) > 1:
        size = trial.values[1]
    if size is None or loss is None or not math.isfinite(loss):
        return None
    return float(loss), int(size)


def loss_size_front(trials: Sequence[FrozenTrial]) -> list[tuple[int, float, int]]:
    """``(trial number, val loss, params)`` of the complete trials on the loss–size Pareto
    front, by loss, then size, then number."""
    pairs = {t.number: p for t in trials if (p := _loss_and_size(t)) is not None}
    front = set(pareto_front(pairs.values()))
    points = [(n, loss, size) for n, (loss, size) in pairs.items() if (loss, float(size)) in front]
    return sorted(points, key=lambda p: (p[1], p[2], p[0]))


def best_trials(trials: Sequence[FrozenTrial], *, multi_objective: bool) -> list[FrozenTrial]:
    """Optuna's best trials: the lowest loss, or the non-dominated set of the objectives."""
    complete = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values
        and all(v is not None and math.isfinite(v) for v in t.values)
    ]
    if not complete:
        return []
    if not multi_objective:
        return [min(complete, key=lambda t: (t.values[0], t.number))]
    front = set(pareto_front([(t.values[0], t.values[1]) for t in complete]))
    return [t for t in complete if (float(t.values[0]), float(t.values[1])) in front]
