"""The HTTP API under ``/api/v1``: one router per resource, shared dependencies, one error shape.

``service.app.create_app`` assembles the app; this package only provides the pieces:
:func:`build_api_router` (studies, comparisons, datasets, health),
:func:`install_error_handlers` (every error as ``{"error": {code, message, field,
allowed}}``) and :class:`BodySizeLimitMiddleware`. Routes run no training: they call the
storage functions, and worker processes train.
"""

from fastapi import APIRouter

from service.api._limits import BodySizeLimitMiddleware
from service.api.deps import Backends, get_settings, require_write
from service.api.errors import ApiError, install_error_handlers

__all__ = [
    "API_PREFIX",
    "ApiError",
    "Backends",
    "BodySizeLimitMiddleware",
    "build_api_router",
    "get_settings",
    "install_error_handlers",
    "require_write",
]

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """All API routes under :data:`API_PREFIX`."""
    from service.api import comparisons, datasets, health, studies

    api = APIRouter(prefix=API_PREFIX)
    for module in (studies, comparisons, datasets, health):
        api.include_router(module.router)
    return api
