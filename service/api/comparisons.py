"""``/comparisons``: studies (arms, ``studies.arms``) run on one spec, their metrics, figures
and exports.

A comparison is created all or nothing with one study per arm; every answer lists the arms
in display order, each with its label and colour (the same on every figure and page).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from service.api import _views as views
from service.api._cache import ResultCache
from service.api._comparison_checks import check_comparison
from service.api.deps import Backend, BackendDep, CacheDep, PageDep, SettingsDep, WriteAccess
from service.api.schemas import (
    ERROR_RESPONSES,
    ArmOut,
    ComparisonCreated,
    ComparisonDetail,
    ComparisonOut,
    ComparisonPage,
    ComparisonRequest,
    StudyOut,
)
from service.artifacts import removing_artifacts
from service.errors import NotFoundError
from service.scheduler import create_comparison
from service.storage import (
    ComparisonRecord,
    StudyRecord,
    cancel_study,
    comparison_status,
    comparison_studies,
    comparisons_studies,
    count_comparison_records,
    delete_comparison,
    get_comparison_record,
    list_comparison_records,
)
from studies.arms import ARM_COLOURS, ARM_LABELS
from studies.compare import Comparison, compare_studies

__all__ = ["router"]

router = APIRouter(prefix="/comparisons", tags=["comparisons"], responses=ERROR_RESPONSES)

ComparisonId = Annotated[str, Path(description="the comparison's public id", max_length=64)]
_FIGURE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "plotly figure JSON"}
}


def _links(request: Request, cid: str) -> dict[str, str]:
    base = request.url_for("get_comparison", comparison_id=cid).path
    links = {
        "self": base,
        "cancel": f"{base}/cancel",
        "export.json": f"{base}/export.json",
        "export.csv": f"{base}/export.csv",
    }
    for name in views.PLOT_NAMES:
        links[f"plot:{name}"] = f"{base}/plots/{name}"
    return links


def _arm_out(arm: str, study: StudyOut) -> ArmOut:
    return ArmOut(
        arm=arm, label=ARM_LABELS.get(arm, arm), colour=ARM_COLOURS.get(arm, "#7f7f7f"),
        study=study,
    )


def _shape(
    request: Request, comparison: ComparisonRecord, studies: list[StudyOut]
) -> ComparisonOut:
    """The listed form of a comparison from its arms' studies (in arm order)."""
    arms = [_arm_out(a, s) for a, s in zip(comparison.arms, studies, strict=True)]
    by_arm = {a.arm: a.study for a in arms}
    return ComparisonOut(
        id=comparison.id, name=comparison.name, created_at=comparison.created_at,
        status=comparison_status({s.status for s in studies}),  # type: ignore[arg-type]
        arms=arms, lambda_study=by_arm.get("lambda") or by_arm.get("lambda_path"),
        width_study=by_arm.get("width"), links=_links(request, comparison.id),
    )


def _out(
    request: Request, backend: Backend, comparison: ComparisonRecord,
    records: list[StudyRecord] | None = None,
) -> ComparisonOut:
    if records is None:
        records = comparison_studies(backend.engine, comparison)
    return _shape(request, comparison, views.study_outs(request, backend, records))


@router.post(
    "", status_code=201, response_model=ComparisonCreated, dependencies=[WriteAccess],
    name="create_comparison",
)
def create(
    body: ComparisonRequest, request: Request, backend: BackendDep, settings: SettingsDep
) -> ComparisonCreated:
    """Queue one study per arm on one spec (all or none).

    ``arms`` (optional) picks at least two different arms of ``studies.arms.ARMS``;
    without it a ``lambda_path`` spec runs a λ path against width search and any other
    spec λ search against width search. Every arm shares the spec's dataset,
    architecture, training and budget (``studies.arms``).
    """
    spec, plan = check_comparison(body, settings)
    record = create_comparison(
        backend.storage, backend.engine, spec, trial_cap=settings.max_trials, plan=plan
    )
    links = _links(request, record.id)
    for arm, sid in record.arms.items():
        links[f"study:{arm}"] = request.url_for("get_study", study_id=sid).path
    for legacy, sid in (("lambda_study", record.lambda_study_id),
                        ("width_study", record.width_study_id)):
        if sid:
            links[legacy] = request.url_for("get_study", study_id=sid).path
    return ComparisonCreated(
        id=record.id, name=record.name, arms=dict(record.arms),
        lambda_study_id=record.lambda_study_id or None,
        width_study_id=record.width_study_id or None, links=links,
        notes=[f"{arm}: {note}" for arm, one in plan.items() for note in one.notes()],
    )


@router.get("", response_model=ComparisonPage, name="list_comparisons")
def list_comparisons(request: Request, backend: BackendDep, page: PageDep) -> ComparisonPage:
    """Comparisons, newest first, with every arm's study, status and progress."""
    total = count_comparison_records(backend.engine)
    chunk = list_comparison_records(backend.engine, offset=page.offset, limit=page.limit)
    arms = comparisons_studies(backend.engine, chunk)  # one query for the page
    found = [(c, arms[c.id]) for c in chunk if c.id in arms]  # absent: deleted meanwhile
    outs = iter(views.study_outs(request, backend, [r for _, rs in found for r in rs]))
    items = [_shape(request, c, [next(outs) for _ in rs]) for c, rs in found]
    return ComparisonPage(items=items, total=total, offset=page.offset, limit=page.limit)


def _comparison(backend: Backend, record: ComparisonRecord,
                studies: list[StudyRecord]) -> Comparison:
    """``compare_studies`` of every arm's Optuna study, keyed by arm, in arm order."""
    return compare_studies(
        {arm: views.load_study(backend, r) for arm, r in zip(record.arms, studies, strict=True)}
    )


def _cache_key(what: str, out: ComparisonOut) -> tuple[Any, ...] | None:
    """A key for answers about a comparison whose every arm has finished, else None."""
    sides = [a.study for a in out.arms]
    if not sides or any(s.status != "finished" or s.progress is None for s in sides):
        return None
    counts = tuple(s.progress.done + s.progress.failed for s in sides if s.progress)
    return ("comparison", out.id, what, *counts)


def _metrics(
    backend: Backend, cache: ResultCache, record: ComparisonRecord, studies: list[StudyRecord],
    out: ComparisonOut,
) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        return dict(views.json_safe(_comparison(backend, record, studies).to_dict()))

    return dict(cache.get_or_compute(_cache_key("metrics", out), build))


@router.get("/{comparison_id}", response_model=ComparisonDetail, name="get_comparison")
def get_comparison(
    comparison_id: ComparisonId, request: Request, backend: BackendDep, cache: CacheDep
) -> ComparisonDetail:
    """A comparison: every arm's study and the metrics of ``studies.compare_studies``.

    Metrics of running studies are a snapshot; once every arm finishes they are cached.
    """
    record = get_comparison_record(backend.engine, comparison_id)
    studies = comparison_studies(backend.engine, record)
    out = _out(request, backend, record, studies)
    metrics = _metrics(backend, cache, record, studies, out)
    return ComparisonDetail(**dict(out), spec=views.public_spec(record.spec), metrics=metrics)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/{comparison_id}/export.json", name="export_comparison_json",
    responses={200: {"content": {"application/json": {}},
                     "description": "the comparison, its spec and metrics"}},
)
def export_json(
    comparison_id: ComparisonId, request: Request, backend: BackendDep, cache: CacheDep
) -> Response:
    """The comparison (every arm's study), its spec and its metrics as one JSON file
    (``comparison-<id>.json``); the metrics include every arm's curve and conventions."""
    record = get_comparison_record(backend.engine, comparison_id)
    studies = comparison_studies(backend.engine, record)
    out = _out(request, backend, record, studies)
    body = {
        "comparison": out.model_dump(mode="json"),
        "spec": views.public_spec(record.spec),
        "metrics": _metrics(backend, cache, record, studies, out),
    }
    return Response(
        json.dumps(views.json_safe(body), allow_nan=False), media_type="application/json",
        headers=_attachment(f"comparison-{record.id}.json"),
    )


@router.get(
    "/{comparison_id}/export.csv", name="export_comparison_csv",
    responses={200: {"content": {"text/csv": {}},
                     "description": "one row per finished trial of every arm"}},
)
def export_csv(
    comparison_id: ComparisonId, request: Request, backend: BackendDep, cache: CacheDep
) -> Response:
    """Every arm's finished trials in order of completion, with the cumulative compute,
    best loss and hypervolumes after each (``Comparison.csv_text``), as
    ``comparison-<id>.csv``."""
    record = get_comparison_record(backend.engine, comparison_id)
    studies = comparison_studies(backend.engine, record)
    key = _cache_key("csv", _out(request, backend, record, studies))
    text = cache.get_or_compute(key, lambda: _comparison(backend, record, studies).csv_text())
    return Response(
        text, media_type="text/csv; charset=utf-8",
        headers=_attachment(f"comparison-{record.id}.csv"),
    )


@router.get("/{comparison_id}/plots/{name}", name="comparison_plot", responses=_FIGURE)
def comparison_plot(
    comparison_id: ComparisonId,
    name: Annotated[str, Path(description="size-space, pareto, compute, widths or lambda")],
    request: Request,
    backend: BackendDep,
    cache: CacheDep,
) -> Response:
    """One plotly figure (JSON) overlaying every arm's study, each in its arm's colour."""
    plot = views.plot_function(name)
    record = get_comparison_record(backend.engine, comparison_id)
    studies = comparison_studies(backend.engine, record)
    key = _cache_key(f"plot:{name.replace('_', '-')}", _out(request, backend, record, studies))

    def build() -> str:
        return str(plot(*(views.load_study(backend, r) for r in studies)).to_json())

    return Response(cache.get_or_compute(key, build), media_type="application/json")


@router.post(
    "/{comparison_id}/cancel", response_model=ComparisonOut, dependencies=[WriteAccess],
    name="cancel_comparison",
)
def cancel(comparison_id: ComparisonId, request: Request, backend: BackendDep) -> ComparisonOut:
    """Cancel every arm's study."""
    record = get_comparison_record(backend.engine, comparison_id)
    for sid in record.study_ids:
        cancel_study(backend.engine, sid)
    return _out(request, backend, record)


@router.delete(
    "/{comparison_id}", status_code=204, response_class=Response, dependencies=[WriteAccess],
    name="delete_comparison",
)
def delete(comparison_id: ComparisonId, backend: BackendDep) -> Response:
    """Delete the comparison, every arm's study and their stored networks."""
    record = get_comparison_record(backend.engine, comparison_id)
    try:
        names = [s.study_name for s in comparison_studies(backend.engine, record)]
    except NotFoundError:  # an arm's study is gone already: delete what is left
        names = []
    with removing_artifacts(backend.storage, backend.artifacts, names):
        delete_comparison(backend.storage, backend.engine, comparison_id)
    return Response(status_code=204)
