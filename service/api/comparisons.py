"""``/comparisons``: a λ-search study and a width-search study on one spec, and their metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from service.api import _views as views
from service.api._spec_checks import check_spec
from service.api.deps import Backend, BackendDep, CacheDep, PageDep, SettingsDep, WriteAccess
from service.api.schemas import (
    ERROR_RESPONSES,
    ComparisonCreated,
    ComparisonDetail,
    ComparisonOut,
    ComparisonPage,
)
from service.storage import (
    ComparisonRecord,
    cancel_study,
    create_comparison,
    delete_comparison,
    get_comparison_record,
    get_study_record,
    list_comparison_records,
)
from studies.compare import compare_studies
from studies.spec import StudySpec

__all__ = ["router"]

router = APIRouter(prefix="/comparisons", tags=["comparisons"], responses=ERROR_RESPONSES)

ComparisonId = Annotated[str, Path(description="the comparison's public id", max_length=64)]
_FIGURE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "plotly figure JSON"}
}


def _links(request: Request, cid: str) -> dict[str, str]:
    links = {"self": request.url_for("get_comparison", comparison_id=cid).path}
    for name in views.PLOT_NAMES:
        links[f"plot:{name}"] = request.url_for(
            "comparison_plot", comparison_id=cid, name=name
        ).path
    return links


def _status(statuses: set[str]) -> str:
    if statuses == {"finished"}:
        return "finished"
    if "cancelled" in statuses:
        return "cancelled"
    if statuses == {"queued"}:
        return "queued"
    return "running"


def _out(request: Request, backend: Backend, comparison: ComparisonRecord) -> ComparisonOut:
    lam = views.study_out(
        request, backend, get_study_record(backend.engine, comparison.lambda_study_id)
    )
    width = views.study_out(
        request, backend, get_study_record(backend.engine, comparison.width_study_id)
    )
    return ComparisonOut(
        id=comparison.id, name=comparison.name, created_at=comparison.created_at,
        status=_status({lam.status, width.status}),  # type: ignore[arg-type]
        lambda_study=lam, width_study=width, links=_links(request, comparison.id),
    )


@router.post(
    "", status_code=201, response_model=ComparisonCreated, dependencies=[WriteAccess],
    name="create_comparison",
)
def create(
    spec: StudySpec, request: Request, backend: BackendDep, settings: SettingsDep
) -> ComparisonCreated:
    """Queue a λ-search study and a width-search study on one spec (both or neither).

    ``search.kind`` picks the λ side (``lambda_path`` stays a λ path, anything else becomes
    ``lambda``); the width side always searches widths with the same budget.
    """
    spec = check_spec(spec, settings)
    record = create_comparison(backend.storage, backend.engine, spec)
    links = _links(request, record.id)
    links["lambda_study"] = request.url_for("get_study", study_id=record.lambda_study_id).path
    links["width_study"] = request.url_for("get_study", study_id=record.width_study_id).path
    return ComparisonCreated(
        id=record.id, name=record.name, lambda_study_id=record.lambda_study_id,
        width_study_id=record.width_study_id, links=links,
    )


@router.get("", response_model=ComparisonPage, name="list_comparisons")
def list_comparisons(request: Request, backend: BackendDep, page: PageDep) -> ComparisonPage:
    """Comparisons, newest first, with both studies' status and progress."""
    # The storage layer has no count query for comparisons; they are few (each one is two
    # full searches), so the page is cut from the whole list.
    records = list_comparison_records(backend.engine, offset=0, limit=1_000_000)
    chunk = records[page.offset : page.offset + page.limit]
    return ComparisonPage(
        items=[_out(request, backend, c) for c in chunk], total=len(records),
        offset=page.offset, limit=page.limit,
    )


@router.get("/{comparison_id}", response_model=ComparisonDetail, name="get_comparison")
def get_comparison(
    comparison_id: ComparisonId, request: Request, backend: BackendDep, cache: CacheDep
) -> ComparisonDetail:
    """A comparison: both studies and the metrics of ``studies.compare_studies``.

    Metrics of running studies are a snapshot; once both finish they are cached.
    """
    record = get_comparison_record(backend.engine, comparison_id)
    out = _out(request, backend, record)
    key = _cache_key("metrics", out)

    def build() -> dict[str, Any]:
        lam, width = _studies(backend, record)
        return dict(views.json_safe(compare_studies(lam, width).to_dict()))

    metrics = cache.get_or_compute(key, build)
    return ComparisonDetail(**out.model_dump(), spec=record.spec, metrics=metrics)


def _studies(backend: Backend, record: ComparisonRecord) -> tuple[Any, Any]:
    lam = get_study_record(backend.engine, record.lambda_study_id)
    width = get_study_record(backend.engine, record.width_study_id)
    return views.load_study(backend, lam), views.load_study(backend, width)


def _cache_key(what: str, out: ComparisonOut) -> tuple[Any, ...] | None:
    sides = (out.lambda_study, out.width_study)
    if any(s.status != "finished" or s.progress is None for s in sides):
        return None
    counts = tuple(s.progress.done + s.progress.failed for s in sides if s.progress)
    return ("comparison", out.id, what, *counts)


@router.get("/{comparison_id}/plots/{name}", name="comparison_plot", responses=_FIGURE)
def comparison_plot(
    comparison_id: ComparisonId,
    name: Annotated[str, Path(description="size-space, pareto, compute, widths or lambda")],
    request: Request,
    backend: BackendDep,
    cache: CacheDep,
) -> Response:
    """One plotly figure (JSON) overlaying the λ study and the width study."""
    plot = views.plot_function(name)
    record = get_comparison_record(backend.engine, comparison_id)
    key = _cache_key(f"plot:{name.replace('_', '-')}", _out(request, backend, record))

    def build() -> str:
        return str(plot(*_studies(backend, record)).to_json())

    return Response(cache.get_or_compute(key, build), media_type="application/json")


@router.post(
    "/{comparison_id}/cancel", response_model=ComparisonOut, dependencies=[WriteAccess],
    name="cancel_comparison",
)
def cancel(comparison_id: ComparisonId, request: Request, backend: BackendDep) -> ComparisonOut:
    """Cancel both studies of the comparison."""
    record = get_comparison_record(backend.engine, comparison_id)
    for sid in (record.lambda_study_id, record.width_study_id):
        cancel_study(backend.engine, sid)
    return _out(request, backend, record)


@router.delete(
    "/{comparison_id}", status_code=204, response_class=Response, dependencies=[WriteAccess],
    name="delete_comparison",
)
def delete(comparison_id: ComparisonId, backend: BackendDep) -> Response:
    """Delete the comparison and both of its studies."""
    delete_comparison(backend.storage, backend.engine, comparison_id)
    return Response(status_code=204)
