"""Static assets of the dashboard, served from the installed packages (no CDN).

``plotly.min.js`` is served straight from the installed ``plotly`` Python package
(``plotly/package_data/plotly.min.js``), so the dashboard works offline and the
repository never carries a copy of the 4 MB bundle.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

__all__ = ["STATIC_DIR", "mount_static", "plotly_js_path"]

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_URL_PATH = "/vendor/plotly.min.js"
_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def plotly_js_path() -> Path:
    """Where the installed ``plotly`` package keeps its browser bundle.

    Returns:
        The path of ``plotly.min.js``.

    Raises:
        FileNotFoundError: the ``plotly`` package is installed without its bundle
            (reinstall it: ``pip install --force-reinstall plotly``).
    """
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(
            f"plotly.js bundle not found at {path}; the dashboard serves it from the "
            "installed plotly package. Reinstall it: pip install --force-reinstall plotly"
        )
    return path


def _asset(name: str) -> Path:
    """The file ``name`` of the dashboard's flat static folder.

    Raises:
        HTTPException: 404 for anything else (other folders, ``..``, unknown file types).
    """
    path = STATIC_DIR / name
    if "/" in name or "\\" in name or path.suffix not in _MEDIA_TYPES or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no dashboard asset {name!r}")
    return path


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS/JS under ``/static`` and plotly.js under ``/vendor``.

    Plain routes rather than a ``StaticFiles`` mount: a mount resolves files from the
    request path minus ``root_path``, which breaks when a proxy strips the prefix and the
    app only learns it from ``root_path``; routes match the same way as the pages do.
    A plotly install without its bundle does not stop the app (the API still works):
    ``/vendor/plotly.min.js`` then answers 503 saying how to fix the install.

    Args:
        app: the FastAPI app (``create_app`` calls this once).
    """

    async def plotly_js() -> FileResponse:
        try:
            path = plotly_js_path()
        except FileNotFoundError as e:
            raise HTTPException(status_code=503, detail=str(e)) from e
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES[".js"],
            # pages ask for ?v=<plotly version>, so a long cache never serves a stale bundle
            headers={"Cache-Control": "public, max-age=604800"},
        )

    async def static_asset(name: str) -> FileResponse:
        path = _asset(name)
        # no-cache = revalidate (ETag) on each load, so a new release shows at once
        return FileResponse(
            path, media_type=_MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
        )

    app.add_api_route(
        PLOTLY_URL_PATH, plotly_js, methods=["GET"], include_in_schema=False,
        name="web_plotly_js",
    )
    app.add_api_route(
        "/static/{name}", static_asset, methods=["GET"], include_in_schema=False,
        name="web_static",
    )
