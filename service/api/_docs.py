"""``/docs`` (Swagger UI) and ``/redoc`` served with local assets, so they work offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN; on a machine without network
access they stay blank. The assets come from the pinned ``fastapi-offline`` package
(its ``static/`` folder: ``swagger-ui-bundle.js``, ``swagger-ui.css``,
``redoc.standalone.js``), mounted at ``/static-docs``; the pages are FastAPI's own HTML
pointing at them. Links honour the request's root path (a proxy prefix).

ReDoc's bundle still names one remote file, its "Redocly" logo
(``https://cdn.redoc.ly/redoc/logo-mini.svg``); it is served with that URL replaced by an
empty inline SVG, so the page fetches nothing from another host.
"""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

__all__ = ["ASSETS_URL", "mount_api_docs"]

ASSETS_URL = "/static-docs"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@functools.cache
def _redoc_js() -> bytes:
    """ReDoc's bundle with its one remote URL (the logo) made inline."""
    text = (_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(_REDOC_LOGO, _EMPTY_SVG).encode("utf-8")


def mount_api_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect and ``/redoc`` with local assets.

    The app must be created with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:  # before the mount, which would serve the original
        return Response(_redoc_js(), media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=str(_ASSETS)), name="static-docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
