"""Reading finished trials back as plain records, for comparison metrics and plots.

Both ``compare`` and ``plots`` accept an ``optuna.Study`` or a list of ``FrozenTrial`` (so
the service can pass whatever it has loaded); this module turns either into
:class:`TrialPoint` records ordered by completion time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from studies.budget import trial_cost

__all__ = ["StudyLike", "TrialPoint", "source_info", "trial_points", "unique_labels"]

StudyLike = optuna.Study | Sequence[FrozenTrial]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial as the comparison and plots see it.

    Attributes:
        number: the Optuna trial number.
        state: ``COMPLETE``, ``PRUNED`` or ``FAIL``.
        val_loss: the final validation loss (``None`` unless complete).
        params: the final parameter count (``None`` unless complete).
        lam: λ of a λ-kind trial, ``None`` for width search.
        final_widths: the network's final hidden widths.
        initial_widths: the widths it started training at (``max_width`` for λ trials).
        history: the per-epoch records (dicts) stored by ``run_trial``.
        search_cost_macs: the training compute this trial added to the search (for a λ-path
            step: that step only, not the cumulative path cost).
        search_wall_time_s: likewise in wall-clock seconds.
        completed_at: when the trial finished.
        val_accuracy: the final validation accuracy (classification, complete trials).
        max_params: parameters of the largest network the spec allows (``max_params``
            attribute; ``None`` for trials stored before it was recorded).
        test_loss: the kept network's loss on the test split (complete trials of a
            dataset with a test split; never used to choose anything).
    """

    number: int
    state: str
    val_loss: float | None
    params: int | None
    lam: float | None
    final_widths: list[int]
    initial_widths: list[int]
    history: list[dict[str, Any]] = field(default_factory=list)
    search_cost_macs: float = 0.0
    search_wall_time_s: float = 0.0
    completed_at: datetime | None = None
    val_accuracy: float | None = None
    max_params: int | None = None
    test_loss: float | None = None

    @property
    def is_lambda(self) -> bool:
        """True for trials of a λ kind (λ search, λ path, target size)."""
        return self.lam is not None

    @property
    def complete(self) -> bool:
        """True when the trial finished with objective values."""
        return self.state == "COMPLETE" and self.val_loss is not None and self.params is not None


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _point(trial: FrozenTrial) -> TrialPoint:
    attrs = trial.user_attrs
    values = trial.values if trial.state == TrialState.COMPLETE else None
    val_loss = _finite(values[0]) if values else None
    params = attrs.get("params")
    if params is None and values is not None and len(values) > 1:
        params = values[1]
    history = list(attrs.get("history") or [])
    final_widths = list(attrs.get("final_widths") or (history[-1]["widths"] if history else []))
    cost, wall = trial_cost(trial)  # the same charge as the budgets (studies.budget)
    return TrialPoint(
        number=trial.number,
        state=trial.state.name,
        val_loss=val_loss,
        params=int(params) if params is not None and values is not None else None,
        lam=_finite(attrs.get("lam", trial.params.get("lam"))),
        final_widths=[int(w) for w in final_widths],
        initial_widths=[int(w) for w in attrs.get("initial_widths") or []],
        history=history,
        search_cost_macs=float(cost or 0.0),
        search_wall_time_s=float(wall or 0.0),
        completed_at=trial.datetime_complete,
        val_accuracy=_finite(attrs.get("val_accuracy")) if values else None,
        max_params=int(attrs["max_params"]) if attrs.get("max_params") else None,
        test_loss=_finite(attrs.get("test_loss")) if values else None,
    )


def _sort_key(point: TrialPoint) -> tuple[datetime, int]:
    return (point.completed_at or datetime.max, point.number)


def trial_points(source: StudyLike) -> list[TrialPoint]:
    """Every finished trial of ``source`` (complete, pruned or failed), in completion order.

    Pruned and failed trials carry no objective values but still count as spent compute.
    """
    if isinstance(source, optuna.Study):
        trials: Sequence[FrozenTrial] = source.get_trials(deepcopy=False, states=_FINISHED)
    else:
        trials = [t for t in source if t.state in _FINISHED]
    return sorted((_point(t) for t in trials), key=_sort_key)


def source_info(source: StudyLike, default: str = "study") -> tuple[str, str]:
    """``(label, kind)`` of a study: its ``label`` (or name) and ``kind`` user attributes.

    For a plain list of trials the label is ``default`` and the kind is guessed from the
    trials (``lambda`` when they carry λ, else ``width``). The kind of a study is its
    ``kind`` attribute (the arm is ``arm``: ``width`` and ``width_hyperband`` share a kind).
    """
    if isinstance(source, optuna.Study):
        attrs = source.user_attrs
        kind = str(attrs.get("kind", "unknown"))
        return str(attrs.get("label") or source.study_name), kind
    points = trial_points(source)
    kind = "lambda" if any(p.is_lambda for p in points) else "width"
    return default, kind


def unique_labels(sources: Sequence[StudyLike]) -> list[str]:
    """One display label per source; equal labels get the study name (or a number) added."""
    own = [source_info(s, f"study {i + 1}")[0] for i, s in enumerate(sources)]
    labels = list(own)
    for i, (label, source) in enumerate(zip(own, sources, strict=True)):
        if own.count(label) > 1:
            suffix = source.study_name if isinstance(source, optuna.Study) else str(i + 1)
            labels[i] = f"{label} ({suffix})"
    if len(set(labels)) < len(labels):  # same names too: fall back to positions
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels
