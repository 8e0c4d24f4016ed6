"""Turn storage records and Optuna trials into the API's response models.

Kept apart from the routers so they stay thin: a router fetches records with the
storage functions and hands them here to be shaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from fastapi import Request
from optuna.trial import FrozenTrial, TrialState

from service.api.deps import Backend
from service.api.errors import ApiError
from service.api.schemas import FrontPoint, ProgressOut, StudyOut, TrialOut
from service.errors import NotFoundError
from service.storage import StudyRecord, study_progress
from studies.pareto import pareto_front
from studies.plots import PLOTS

__all__ = [
    "PLOT_NAMES",
    "best_trials",
    "front_points",
    "json_safe",
    "load_study",
    "load_trials",
    "plot_function",
    "progress_of",
    "study_links",
    "study_out",
    "trial_out",
]

PLOT_NAMES: dict[str, str] = {name.replace("_", "-"): name for name in PLOTS}
"""API plot name (``size-space``) → key of :data:`studies.plots.PLOTS` (``size_space``)."""


def plot_function(name: str) -> Any:
    """The plot function for an API plot name (``size-space`` or ``size_space``).

    Raises:
        ApiError: 404 listing the allowed names.
    """
    key = PLOT_NAMES.get(name, name if name in PLOTS else None)
    if key is None:
        allowed = ", ".join(PLOT_NAMES)
        raise ApiError(
            404,
            "not_found",
            f"there is no plot named {name!r}; ask for one of: {allowed}",
            field="name",
            allowed=allowed,
        )
    return PLOTS[key]


def json_safe(value: Any) -> Any:
    """``value`` with NaN/±inf replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _path(request: Request, route: str, **params: str) -> str:
    return request.url_for(route, **params).path


def study_links(request: Request, record: StudyRecord) -> dict[str, str]:
    """Links to everything about one study (paths, including any root path)."""
    sid = record.id
    # Every study route lives under the study's own path: one url_for (slow: it walks the
    # routes) instead of one per link; lists of studies build these for every item.
    base = _path(request, "get_study", study_id=sid)
    links = {
        "self": base,
        "trials": f"{base}/trials",
        "trials.csv": f"{base}/trials.csv",
        "trials.json": f"{base}/trials.json",
        "cancel": f"{base}/cancel",
    }
    for name in PLOT_NAMES:
        links[f"plot:{name}"] = f"{base}/plots/{name}"
    if record.comparison_id:
        links["comparison"] = _path(request, "get_comparison", comparison_id=record.comparison_id)
    return links


def progress_of(backend: Backend, record: StudyRecord) -> ProgressOut | None:
    """The study's progress, or None when its Optuna study has vanished."""
    try:
        progress = study_progress(backend.storage, record)
    except NotFoundError:
        return None
    return ProgressOut(**progress.to_dict())  # type: ignore[arg-type]


def study_out(request: Request, backend: Backend, record: StudyRecord) -> StudyOut:
    """The listed form of a study, with its progress and links."""
    return StudyOut(
        id=record.id,
        name=str(record.spec.get("name", record.study_name)),
        study_name=record.study_name,
        kind=record.kind,
        dataset=record.dataset,
        status=record.status,  # type: ignore[arg-type]
        n_trials=record.n_trials,
        comparison_id=record.comparison_id,
        created_at=record.created_at,
        finished_at=record.finished_at,
        error=record.error,
        progress=progress_of(backend, record),
        links=study_links(request, record),
    )


def _optuna_id(backend: Backend, record: StudyRecord) -> int:
    try:
        return backend.storage.get_study_id_from_name(record.study_name)
    except KeyError as e:
        raise NotFoundError("study", record.id) from e


def load_trials(backend: Backend, record: StudyRecord) -> list[FrozenTrial]:
    """Every trial of the study, by number.

    Raises:
        NotFoundError: the Optuna study was deleted meanwhile.
    """
    # finished trials are read from the database once per process (see TrialReaders)
    trials = backend.readers.trials(backend.storage, record.study_name, _optuna_id(backend, record))
    return sorted(trials, key=lambda t: t.number)


def load_study(backend: Backend, record: StudyRecord) -> optuna.Study:
    """The Optuna study of ``record`` (labels and kind come from its user attributes)."""
    _optuna_id(backend, record)
    reader = backend.readers.get(backend.storage, record.study_name)
    return optuna.load_study(study_name=record.study_name, storage=reader)


def trial_out(trial: FrozenTrial, *, history: bool = False) -> TrialOut:
    """One trial; the per-epoch ``history`` attribute only when asked (it is large)."""
    attrs = dict(trial.user_attrs)
    if not history:
        attrs.pop("history", None)
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return TrialOut(
        number=trial.number,
        state=trial.state.name,
        values=json_safe(list(trial.values)) if trial.values is not None else None,
        params=json_safe(dict(trial.params)),
        attrs=json_safe(attrs),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        duration_s=duration,
    )


def _loss_and_size(trial: FrozenTrial) -> tuple[float, int] | None:
    if trial.state != TrialState.COMPLETE or not trial.values:
        return None
    loss = trial.values[0]
    size = trial.user_attrs.get("params")
    if size is None and len(trial.values) > 1:
        size = trial.values[1]
    if size is None or loss is None or not math.isfinite(loss):
        return None
    return float(loss), int(size)


def front_points(trials: Sequence[FrozenTrial]) -> list[FrontPoint]:
    """The (validation loss, parameter count) Pareto front of the complete trials."""
    pairs = {t.number: p for t in trials if (p := _loss_and_size(t)) is not None}
    front = set(pareto_front(pairs.values()))
    points = [
        FrontPoint(trial_number=n, val_loss=loss, params=size)
        for n, (loss, size) in pairs.items()
        if (loss, float(size)) in front
    ]
    return sorted(points, key=lambda p: (p.val_loss, p.params, p.trial_number))


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
