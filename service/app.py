"""The application factory: ``uvicorn --factory service.app:create_app``.

One app per process: settings are fixed at creation (and reach routes through the
``service.api.deps.get_settings`` dependency, which tests override); the database is
opened lazily on the first request that needs it, so the API starts and answers
``/healthz`` with 503 while the database is still down. No training ever runs here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import (
    Backends,
    BodySizeLimitMiddleware,
    build_api_router,
    install_error_handlers,
)
from service.api._cache import ResultCache
from service.api._docs import mount_api_docs
from service.api.health import healthz
from service.errors import ServiceError
from service.settings import Settings, get_settings

__all__ = ["create_app"]

_log = logging.getLogger("service.app")

_DESCRIPTION = """\
Compare a search over one regularisation strength λ (ShrinkNets: the network learns its
own layer widths) with a search over every layer's width, on the same spec.

Create a study or a comparison with a study spec; worker processes
(`shrinknets worker`) run the trials; read progress, trials, Pareto fronts, plots
(plotly JSON) and comparison metrics here. Mutating routes need
`Authorization: Bearer <token>` when the server has a token. Every error is
`{"error": {"code", "message", "field", "allowed"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app: API routes, error handlers, body limits and the dashboard.

    Args:
        settings: The process settings; None reads them from ``SHRINKNETS_*`` variables.

    Returns:
        The app; usable as ``uvicorn --factory service.app:create_app``.
    """
    settings = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # create or migrate the schema at start-up when the database is up
            app.state.backends.get(settings)
        except (ServiceError, SQLAlchemyError, OSError) as e:
            _log.warning("storage not reachable at start-up (%s); will retry per request", e)
        yield
        app.state.backends.close()

    app = FastAPI(
        title="ShrinkNets search service",
        version=_version(),
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their assets from a CDN: see _docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.backends = Backends()
    app.state.cache = ResultCache()
    install_error_handlers(app)
    if settings.root_path:
        app.add_middleware(_DefaultRootPath, root_path=settings.root_path.rstrip("/"))
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.include_router(build_api_router())
    _document_page_limit(app, settings.max_page_size)
    mount_api_docs(app)
    # Load balancers and compose healthchecks probe /healthz at the root as well.
    app.add_api_route("/healthz", healthz, include_in_schema=False, name="root_healthz")
    _mount_dashboard(app)
    return app


def _document_page_limit(app: FastAPI, max_page_size: int) -> None:
    """Put this server's ``max_page_size`` into the schema as every ``limit``'s maximum
    (the parameter is declared once, for any server; a larger limit is a 422)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for item in schema["paths"].values():
                for operation in item.values():
                    for param in operation.get("parameters", []):
                        if param["name"] != "limit" or param["in"] != "query":
                            continue
                        for option in param["schema"].get("anyOf", [param["schema"]]):
                            if option.get("type") == "integer":
                                option["maximum"] = max_page_size
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class _DefaultRootPath:
    """Give requests ``settings.root_path`` unless the server set one (``--root-path``).

    For deployments behind a proxy that strips a path prefix; links and the dashboard's
    ``<base href>`` then include the prefix.
    """

    def __init__(self, app: ASGIApp, *, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            scope = {**scope, "root_path": self.root_path}
        await self.app(scope, receive, send)


def _version() -> str:
    try:
        return metadata.version("shrinknets")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.0.0"


def _mount_dashboard(app: FastAPI) -> None:
    """Include the dashboard pages and static assets (``service.web``)."""
    from service.web import mount_static, router

    app.include_router(router)
    mount_static(app)
