"""``/studies``: create, list, inspect, cancel and delete studies; trials, exports, plots.

Routes only validate, call the storage functions and shape the answer; training happens
in worker processes, never here.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from optuna.trial import TrialState

from service.api import _views as views
from service.api._spec_checks import check_spec
from service.api.deps import BackendDep, CacheDep, PageDep, SettingsDep, WriteAccess
from service.api.errors import ApiError
from service.api.schemas import (
    ERROR_RESPONSES,
    ErrorOut,
    StudyCreated,
    StudyDetail,
    StudyOut,
    StudyPage,
    TrialPage,
)
from service.artifacts import removing_artifacts
from service.scheduler import create_study_record
from service.storage import (
    Progress,
    StudyStatus,
    cancel_study,
    delete_study,
    get_study_record,
    list_study_records,
)
from studies.fronts import best_trials
from studies.models import open_model
from studies.spec import SearchKind, StudySpec

__all__ = ["router"]

router = APIRouter(prefix="/studies", tags=["studies"], responses=ERROR_RESPONSES)

StudyId = Annotated[str, Path(description="the study's public id", max_length=64)]
LIVE_PLOT_TTL_S = 30.0
"""The least time between background rebuilds of a running study's figure for new epochs
of its running trials (a trial starting, finishing or failing starts one at once): the
live epochs shown can be this much, plus one rebuild, behind."""
_FIGURE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "plotly figure JSON"}
}


@router.post(
    "", status_code=201, response_model=StudyCreated, dependencies=[WriteAccess],
    name="create_study",
)
def create_study(
    spec: StudySpec, request: Request, backend: BackendDep, settings: SettingsDep
) -> StudyCreated:
    """Queue a study; workers run its trials. All or nothing: on error nothing is stored."""
    spec = check_spec(spec, settings)
    record = create_study_record(backend.storage, backend.engine, spec,
                                 trial_cap=settings.max_trials)
    return StudyCreated(
        id=record.id, name=spec.name, study_name=record.study_name, kind=record.kind,
        status=record.status, links=views.study_links(request, record), notes=spec.notes(),
    )


@router.get("", response_model=StudyPage, name="list_studies")
def list_studies(
    request: Request,
    backend: BackendDep,
    page: PageDep,
    status: Annotated[StudyStatus | None, Query(description="the studies' status")] = None,
    kind: Annotated[SearchKind | None, Query(description="the studies' search kind")] = None,
) -> Response:
    """Studies, newest first, optionally filtered by status and kind."""
    records, total = list_study_records(
        backend.engine, status=status, kind=kind, offset=page.offset, limit=page.limit
    )
    return views.json_response(StudyPage(
        items=views.study_outs(request, backend, records),
        total=total, offset=page.offset, limit=page.limit,
    ))


@router.get("/{study_id}", response_model=StudyDetail, name="get_study")
def get_study(
    study_id: StudyId, request: Request, backend: BackendDep, cache: CacheDep
) -> Response:
    """A study: spec, status, progress, best trials and the (loss, size) Pareto front."""
    record = get_study_record(backend.engine, study_id)
    reader = views.reader_of(backend, record)
    trials = views.load_trials(backend, record)
    removed = views.removed_models(backend, record)
    multi = len(record.spec.get("search", {}).get("objectives", ["val_loss"])) > 1

    def build() -> str:
        best, front = reader.complete_view(  # rebuilt only when a trial completes
            ("detail", multi, removed), trials,
            lambda complete: (
                views.trial_outs(
                    reader, best_trials(complete, multi_objective=multi), removed
                ),
                views.front_points(complete),
            ),
        )
        progress = views.progress_out(
            Progress.of_trials(trials, record.n_trials, spec=record.spec)
        )
        summary = views.study_out(request, backend, record, progress)
        detail = StudyDetail(**dict(summary), spec=views.public_spec(record.spec), best_trials=best,
                             pareto_front=front, notes=record.study_spec.notes())
        return detail.model_dump_json()

    key = views.settled_key(
        record, trials, "study-detail", request.scope.get("root_path", ""), removed
    )
    return views.json_response(cache.get_or_compute(key, build))


@router.post(
    "/{study_id}/cancel", response_model=StudyOut, dependencies=[WriteAccess],
    name="cancel_study",
)
def cancel(study_id: StudyId, request: Request, backend: BackendDep) -> StudyOut:
    """Cancel: no new trial starts; running trials stop at their next epoch."""
    record = cancel_study(backend.engine, study_id)
    return views.study_out(request, backend, record)


@router.delete(
    "/{study_id}", status_code=204, response_class=Response, dependencies=[WriteAccess],
    name="delete_study", responses={409: {
        "model": ErrorOut, "description": "the study belongs to a comparison: delete that"}},
)
def delete(study_id: StudyId, backend: BackendDep) -> Response:
    """Delete a study, its trials and their stored networks (409 if it belongs to a
    comparison)."""
    record = get_study_record(backend.engine, study_id)
    with removing_artifacts(backend.storage, backend.artifacts, [record.study_name]):
        delete_study(backend.storage, backend.engine, study_id)
    return Response(status_code=204)


@router.get("/{study_id}/trials", response_model=TrialPage, name="list_trials")
def list_trials(
    study_id: StudyId, backend: BackendDep, page: PageDep, cache: CacheDep
) -> Response:
    """The study's trials by number, without the per-epoch history (see trials.json)."""
    record = get_study_record(backend.engine, study_id)
    trials = views.load_trials(backend, record)
    removed = views.removed_models(backend, record)

    def build() -> str:
        chunk = trials[page.offset : page.offset + page.limit]
        items = views.trial_outs(views.reader_of(backend, record), chunk, removed)
        return TrialPage(
            items=items, total=len(trials), offset=page.offset, limit=page.limit
        ).model_dump_json()

    key = views.settled_key(record, trials, "trial-page", page.offset, page.limit, removed)
    return views.json_response(cache.get_or_compute(key, build))


def _attachment(name: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


@router.get("/{study_id}/trials.json", name="export_trials_json")
def export_trials_json(study_id: StudyId, request: Request, backend: BackendDep) -> Response:
    """Every trial with its full per-epoch history, and the study's spec, as one JSON file."""
    record = get_study_record(backend.engine, study_id)
    trials = views.load_trials(backend, record)
    removed = views.removed_models(backend, record)
    body = {
        "study": views.study_out(request, backend, record).model_dump(mode="json"),
        "spec": views.public_spec(record.spec),
        "trials": [views.trial_out(t, history=True, removed=removed).model_dump(mode="json")
                   for t in trials],
    }
    return Response(
        json.dumps(views.json_safe(body), allow_nan=False), media_type="application/json",
        headers=_attachment(f"{record.study_name}-trials.json"),
    )


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(views.json_safe(value), allow_nan=False)
    return "" if value is None else value


@router.get(
    "/{study_id}/trials.csv", name="export_trials_csv",
    responses={200: {"content": {"text/csv": {}}, "description": "one row per trial"}},
)
def export_trials_csv(study_id: StudyId, backend: BackendDep) -> Response:
    """One row per trial: state, objective values, stored model formats, sampled parameters
    and results.

    Lists (e.g. ``final_widths``) are JSON-encoded cells; the per-epoch history is only
    in ``trials.json``.
    """
    record = get_study_record(backend.engine, study_id)
    rows = views.trial_outs(views.reader_of(backend, record), views.load_trials(backend, record),
                            views.removed_models(backend, record))
    objectives = record.spec.get("search", {}).get("objectives", ["val_loss"])
    param_keys = sorted({k for r in rows for k in r.params})
    attr_keys = sorted({k for r in rows for k in r.attrs})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["number", "state", *(f"value_{o}" for o in objectives), "datetime_start",
         "datetime_complete", "duration_s", "model_formats",
         *(f"param_{k}" for k in param_keys),
         *(f"attr_{k}" for k in attr_keys)]
    )
    for r in rows:
        values = list(r.values or []) + [None] * len(objectives)
        writer.writerow(
            [r.number, r.state, *(_cell(v) for v in values[: len(objectives)]),
             _cell(r.datetime_start.isoformat() if r.datetime_start else None),
             _cell(r.datetime_complete.isoformat() if r.datetime_complete else None),
             _cell(r.duration_s), " ".join(r.model.formats),
             *(_cell(r.params.get(k)) for k in param_keys),
             *(_cell(r.attrs.get(k)) for k in attr_keys)]
        )
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers=_attachment(f"{record.study_name}-trials.csv"),
    )


@router.get("/{study_id}/plots/{name}", name="study_plot", responses=_FIGURE)
def study_plot(
    study_id: StudyId,
    name: Annotated[str, Path(description="size-space, pareto, compute, widths or lambda")],
    backend: BackendDep,
    cache: CacheDep,
) -> Response:
    """One plotly figure (JSON) of the study. A figure of 1000 trials takes up to a few
    hundred ms to build, so figures of finished studies are cached; those of running
    studies are served from their last build and rebuilt in the background (see
    ``LIVE_PLOT_TTL_S``)."""
    plot = views.plot_function(name)
    record = get_study_record(backend.engine, study_id)
    trials = views.load_trials(backend, record)
    progress = Progress.of_trials(trials, record.n_trials)

    def build() -> str:
        figure = plot(views.load_study(backend, record))
        return str(figure.to_json())

    name = name.replace("_", "-")
    if record.status == "finished":
        done = ("study-plot", record.id, name, progress.done + progress.failed)
        return views.json_response(cache.get_or_compute(done, build))
    # Running: served at once from the last build and rebuilt in the background when a
    # trial changes state, or when running trials have new epochs and the build is at
    # least LIVE_PLOT_TTL_S old; an unchanged study is never rebuilt.
    version = (progress.done, progress.failed, progress.running, progress.waiting)
    epochs = tuple(
        (t.number, len(t.user_attrs.get("history") or ()))
        for t in trials if t.state == TrialState.RUNNING
    )
    return views.json_response(cache.get_or_refresh(
        ("study-plot-live", record.id, name), version, build,
        detail=epochs, every_s=LIVE_PLOT_TTL_S,
    ))


ModelFormat = Literal["torchscript", "state_dict", "onnx"]
_MODEL_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "the model file"}
}


@router.get("/{study_id}/trials/{number}/model", name="download_model", responses=_MODEL_FILE)
def download_model(
    study_id: StudyId,
    number: Annotated[int, Path(description="the trial's number", ge=0, le=2**31 - 1)],
    backend: BackendDep,
    format: Annotated[ModelFormat, Query(
        description="torchscript (torch.jit.load, standardisation built in), state_dict "
        "(shrinknets_core.export.load_bundle) or onnx (float64 raw rows in)"
    )] = "torchscript",
) -> StreamingResponse:
    """The trained network of a complete trial, as a file (see the trial's ``model``)."""
    record = get_study_record(backend.engine, study_id)
    trial = next((t for t in views.load_trials(backend, record) if t.number == number), None)
    if trial is None:
        raise ApiError(404, "not_found", f"study {study_id!r} has no trial {number}; list "
                       f"them with GET /api/v1/studies/{study_id}/trials", field="number")
    try:
        reader, filename, mimetype = open_model(
            backend.artifacts, trial, format, views.removed_models(backend, record)
        )
    except LookupError as e:
        raise ApiError(404, "not_found", f"trial {number} of study {study_id!r} has no "
                       f"{format} network: {e}") from e

    def chunks() -> Any:
        with reader:
            while chunk := reader.read(1 << 16):
                yield chunk

    return StreamingResponse(chunks(), media_type=mimetype, headers=_attachment(filename))
