"""Turn storage records and Optuna trials into the API's response models.

Kept apart from the routers so they stay thin: a router fetches records with the
storage functions and hands them here to be shaped.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from pathlib import PurePath
from typing import Any, Literal

import optuna
from fastapi import Request, Response
from optuna.trial import FrozenTrial
from pydantic import BaseModel

from service.api._readers import StudyReader
from service.api.deps import Backend
from service.api.errors import ApiError
from service.api.schemas import FrontPoint, ModelOut, ProgressOut, StudyOut, TrialOut
from service.errors import NotFoundError
from service.storage import SETTLED_STATUSES, Progress, StudyRecord, studies_progress
from studies.arms import arm_of_dict
from studies.fronts import loss_size_front
from studies.models import MODEL_ATTR, REMOVED_ATTR, model_info
from studies.plots import PLOTS

__all__ = [
    "PLOT_NAMES",
    "front_points",
    "json_response",
    "json_safe",
    "load_study",
    "load_trials",
    "plot_function",
    "progress_of",
    "progress_out",
    "reader_of",
    "removed_models",
    "settled_key",
    "study_links",
    "study_out",
    "study_outs",
    "trial_out",
    "trial_outs",
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


def json_response(body: BaseModel | str | bytes) -> Response:
    """A JSON response of a response model (or its JSON already serialised).

    Routes return this instead of the model: FastAPI would otherwise dump the model,
    validate the dump against the response model again (in a second thread hop) and
    serialise it — several times the cost of building it. The route's ``response_model``
    still documents the body.
    """
    if isinstance(body, BaseModel):
        body = body.model_dump_json()
    return Response(body, media_type="application/json")


def settled_key(record: StudyRecord, trials: Sequence[FrozenTrial], *parts: Hashable) -> Any:
    """A cache key for an answer about a study that can no longer change, or None.

    A study has settled when it has ended (finished or cancelled) and each of its trials
    has finished; the key includes the trial count, so a trial that somehow appears later
    still changes it.
    """
    if record.status not in SETTLED_STATUSES or not all(t.state.is_finished() for t in trials):
        return None
    return (*parts, record.id, len(trials))


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


def progress_out(progress: Progress | None) -> ProgressOut | None:
    """The response form of a study's progress (None: the Optuna study is gone)."""
    return None if progress is None else ProgressOut(**progress.to_dict())  # type: ignore[arg-type]


def progress_of(backend: Backend, record: StudyRecord) -> ProgressOut | None:
    """The study's progress (one query), or None when its Optuna study has vanished."""
    return progress_out(studies_progress(backend.storage, [record]).get(record.id))


def public_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as clients see it: an uploaded dataset named by its file name, never
    by its path on this server (posting the spec back resolves the name again)."""
    dataset = spec.get("dataset") or {}
    path = dataset.get("path")
    if not path:
        return spec
    return {**spec, "dataset": {**dataset, "path": PurePath(str(path)).name}}


def study_out(
    request: Request, backend: Backend, record: StudyRecord,
    progress: ProgressOut | Literal["read"] | None = "read",
) -> StudyOut:
    """The listed form of a study, with its progress (read unless given) and links."""
    return StudyOut(
        id=record.id,
        name=str(record.spec.get("name", record.study_name)),
        study_name=record.study_name,
        kind=record.kind,
        arm=arm_of_dict(record.spec),
        dataset=record.dataset,
        status=record.status,  # type: ignore[arg-type]
        n_trials=record.n_trials,
        comparison_id=record.comparison_id,
        created_at=record.created_at,
        finished_at=record.finished_at,
        error=record.error,
        progress=progress_of(backend, record) if progress == "read" else progress,
        links=study_links(request, record),
    )


def study_outs(request: Request, backend: Backend, records: list[StudyRecord]) -> list[StudyOut]:
    """The listed form of several studies; their progress is read with one query."""
    progress = studies_progress(backend.storage, records)
    return [study_out(request, backend, r, progress_out(progress.get(r.id))) for r in records]


def reader_of(backend: Backend, record: StudyRecord) -> StudyReader:
    """The process's cached reader of the study's Optuna study (see :class:`StudyReader`)."""
    return backend.readers.get(backend.storage, record.study_name)


def load_trials(backend: Backend, record: StudyRecord) -> list[FrozenTrial]:
    """Every trial of the study, by number; finished trials are read once per process.

    Raises:
        NotFoundError: the Optuna study was deleted meanwhile.
    """
    try:
        return reader_of(backend, record).trials(settled=record.status in SETTLED_STATUSES)
    except KeyError as e:
        raise NotFoundError("study", record.id) from e


def load_study(backend: Backend, record: StudyRecord) -> optuna.Study:
    """The Optuna study of ``record`` (labels and kind come from its user attributes).

    Raises:
        NotFoundError: the Optuna study was deleted meanwhile.
    """
    reader = reader_of(backend, record)
    try:
        reader.study_id()
    except KeyError as e:
        raise NotFoundError("study", record.id) from e
    return optuna.load_study(study_name=record.study_name, storage=reader.storage)


def removed_models(backend: Backend, record: StudyRecord) -> tuple[int, ...]:
    """Trials whose network ``keep_models=pareto`` removed after they finished."""
    study_id = reader_of(backend, record).study_id()
    return tuple(backend.storage.get_study_user_attrs(study_id).get(REMOVED_ATTR) or ())


def trial_outs(
    reader: StudyReader, trials: Sequence[FrozenTrial], removed: Sequence[int] = ()
) -> list[TrialOut]:
    """:func:`trial_out` of each trial; those of finished trials are built once per process
    (the networks in ``removed`` are marked unavailable on the way out)."""
    outs = [reader.finished_view("trial_out", t, trial_out) for t in trials]
    if not removed:
        return outs
    gone = set(removed)
    return [
        o.model_copy(update={"model": ModelOut(**model_info(t, gone))})
        if t.number in gone else o
        for o, t in zip(outs, trials, strict=True)
    ]


def trial_out(
    trial: FrozenTrial, *, history: bool = False, removed: Sequence[int] = ()
) -> TrialOut:
    """One trial; the per-epoch ``history`` attribute only when asked (it is large)."""
    attrs = dict(trial.user_attrs)
    attrs.pop(MODEL_ATTR, None)  # shown as ``model``
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
        model=ModelOut(**model_info(trial, removed)),
    )


def front_points(trials: Sequence[FrozenTrial]) -> list[FrontPoint]:
    """The (validation loss, parameter count) Pareto front of the complete trials
    (:func:`studies.fronts.loss_size_front`)."""
    return [FrontPoint(trial_number=n, val_loss=loss, params=size)
            for n, loss, size in loss_size_front(trials)]
