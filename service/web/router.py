"""HTML pages of the dashboard (server-rendered shells; the data comes from ``/api/v1``).

Every page renders ``<base href="{root_path}/">`` and uses only relative URLs, so the
dashboard works unchanged behind a reverse proxy that serves the app under a path
prefix (FastAPI/uvicorn ``root_path``). Templates are autoescaped: user strings
(study names, ids) always render as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from service.api.deps import SettingsDep
from service.settings import Settings
from service.storage import STUDY_STATUSES
from service.web._form import arm_choices, form_groups, form_limits
from studies.arms import ARM_COLOURS, ARM_LABELS, ARMS, DEFAULT_ARMS
from studies.spec import SEARCH_KINDS

__all__ = ["base_href", "router"]

_TEMPLATE_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(_TEMPLATE_DIR), autoescape=True)
)

router = APIRouter(include_in_schema=False)

STATUSES = STUDY_STATUSES
KINDS = tuple((k, ARM_LABELS[k]) for k in SEARCH_KINDS)
"""The study kinds the list filters on (a width + Hyperband study is of kind ``width``)."""
ARMS_META: dict[str, Any] = {
    "order": list(ARMS),
    "defaults": list(DEFAULT_ARMS),
    "labels": ARM_LABELS,
    "colours": ARM_COLOURS,
}
"""The arms' names, labels and colours (``studies.arms``) as every page hands them to its
scripts (``<script id="sn-arms" type="application/json">``): the one source of the arm
colours and the kind labels in the browser."""


def base_href(request: Request) -> str:
    """The URL prefix every page link is relative to: ``root_path`` plus ``/``.

    Args:
        request: the current request; its ASGI scope carries the ``root_path`` set by
            the server (``uvicorn --root-path``) or the app (``FastAPI(root_path=)``).

    Returns:
        e.g. ``"/"`` or ``"/prefix/"``.
    """
    root = str(request.scope.get("app_root_path") or request.scope.get("root_path") or "")
    return root.rstrip("/") + "/"


def _dataset_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of the bundled datasets, for the form's initial options."""
    from shrinknets_core.datasets import list_datasets

    choices = []
    for info in list_datasets():
        if info.requires_file:
            continue  # needs an uploaded file; the page's script lists uploads
        label = info.name
        if info.stand_in_for:
            label += f" (stand-in for {info.stand_in_for})"
        choices.append((info.name, label))
    return choices


def _plotly_version() -> str:
    import plotly

    return str(plotly.__version__)


def _render(request: Request, settings: Settings, template: str, *, page: str, title: str,
            **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "title": title,
            "base_href": base_href(request),
            "token_required": settings.api_token is not None,
            "read_only": settings.read_only,
            "plotly_version": _plotly_version(),
            "arms_meta": ARMS_META,
            **context,
        },
    )


@router.get("/", response_class=HTMLResponse, name="web_studies")
def studies_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The studies list with progress, best loss and filters."""
    return _render(request, settings, "studies.html", page="studies", title="Studies",
                   statuses=STATUSES, kinds=KINDS)


@router.get("/new", response_class=HTMLResponse, name="web_new")
def new_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The form that creates a study or a comparison through the API."""
    limits = form_limits(settings)
    return _render(
        request, settings, "new.html", page="new", title="New study",
        groups=form_groups(limits=limits, datasets=_dataset_choices()), arms=arm_choices(),
    )


@router.get("/studies/{study_id}", response_class=HTMLResponse, name="web_study")
def study_page(request: Request, settings: SettingsDep, study_id: str) -> HTMLResponse:
    """One study: size-space, widths, λ plots, trials table; live while it runs."""
    return _render(request, settings, "study.html", page="study", title=f"Study {study_id}",
                   study_id=study_id)


@router.get("/comparisons/{comparison_id}", response_class=HTMLResponse, name="web_comparison")
def comparison_page(request: Request, settings: SettingsDep,
                    comparison_id: str) -> HTMLResponse:
    """The arms of a comparison side by side: one row each, readouts, figures, downloads."""
    return _render(request, settings, "comparison.html", page="comparison",
                   title=f"Comparison {comparison_id}", comparison_id=comparison_id)
