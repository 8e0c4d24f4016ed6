"""One JSON error shape for every failure the API answers, and the handlers that produce it.

Every error response has the body::

    {"error": {"code": "validation_error",
               "message": "search.n_trials: Input should be less than or equal to 1000",
               "field": "search.n_trials", "allowed": "1..1000",
               "details": [{"code": ..., "message": ..., "field": ..., "allowed": ...}]}}

``field`` (dotted path into the request, ``null`` when the error is not about one field)
and ``allowed`` (the accepted range or values, ``null`` when unknown) are always present;
``details`` lists every problem when a request has several (validation), otherwise it is
omitted. A stack trace never reaches a client: unexpected exceptions are logged and
answered with a 500 that only says where to look.

Driver errors are translated here, in one place: database connection failures become 503
``storage_unavailable``; the service's own exception family (:mod:`service.errors`) maps
to 404/409/503; the core library's ``ConfigError``/``DatasetError`` become 422.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from optuna.exceptions import StorageInternalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api._constraints import allowed_for_loc, body_model, dotted_field
from service.errors import (
    ConflictError,
    NotFoundError,
    ServiceError,
    StorageUnavailableError,
)
from service.storage import is_connection_error
from shrinknets_core.errors import ConfigError, DatasetError

__all__ = [
    "ApiError",
    "BodyTooLarge",
    "ErrorItem",
    "error_response",
    "install_error_handlers",
]

_log = logging.getLogger("service.api")

_DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlalchemy.exc.SQLAlchemyError, StorageInternalError)

_STORAGE_DOWN = (
    "the database cannot be reached or is busy; retry shortly, and check "
    "SHRINKNETS_STORAGE_URL and that the database server is running"
)


_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "storage_unavailable",
    507: "insufficient_storage",
}


class ErrorItem(dict[str, Any]):
    """One problem: ``code``, ``message``, ``field`` and ``allowed`` (a plain dict)."""

    def __init__(
        self, code: str, message: str, *, field: str | None = None, allowed: str | None = None
    ) -> None:
        super().__init__(code=code, message=message, field=field, allowed=allowed)


class ApiError(Exception):
    """An error the API answers on purpose, with its HTTP status and the error shape's fields.

    Args:
        status: HTTP status code (4xx/5xx).
        code: Stable machine-readable code, e.g. ``"limit_exceeded"``.
        message: What is wrong, the offending value and the fix.
        field: Dotted request field the error is about, if any.
        allowed: The accepted range or values of ``field``, if known.
        details: Every problem when there are several (each an :class:`ErrorItem`).
        headers: Extra response headers (e.g. ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        allowed: str | None = None,
        details: Sequence[ErrorItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.allowed = allowed
        self.details = list(details) if details else None
        self.headers = headers

    @classmethod
    def from_items(cls, status: int, items: Sequence[ErrorItem]) -> ApiError:
        """One error for several problems: the first one on top, all of them in ``details``."""
        first = items[0]
        message = "; ".join(str(item["message"]) for item in items)
        return cls(
            status,
            str(first["code"]),
            message,
            field=first["field"],
            allowed=first["allowed"],
            details=items,
        )


class BodyTooLarge(StarletteHTTPException):
    """The request body is over the limit (raised while the body streams in).

    An ``HTTPException`` so FastAPI's body parsing lets it through unchanged.
    """

    def __init__(self, limit: int, *, field: str = "body") -> None:
        super().__init__(
            413,
            f"the request body is larger than this server's limit of {limit} bytes; "
            "send a smaller body",
        )
        self.limit = limit
        self.field = field


def error_response(error: ApiError) -> JSONResponse:
    """The JSON response for ``error`` in the API's one error shape."""
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "field": error.field,
        "allowed": error.allowed,
    }
    if error.details is not None:
        body["details"] = [dict(item) for item in error.details]
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)


def _validation_items(request: Request, exc: RequestValidationError) -> list[ErrorItem]:
    items: list[ErrorItem] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", "value_error"))
        ctx = err.get("ctx") or {}
        if kind == "json_invalid":
            reason = ctx.get("error", "malformed JSON")
            position = loc[1] if len(loc) > 1 else "?"
            items.append(
                ErrorItem(
                    "invalid_json",
                    f"the request body is not valid JSON ({reason} at character {position}); "
                    "send a JSON object with Content-Type: application/json",
                    field="body",
                )
            )
            continue
        message = str(err.get("msg", "invalid value"))
        # Model validators raise ValueError/ConfigError; pydantic prefixes their text.
        message = message.removeprefix("Value error, ")
        if kind == "field_error":  # a model validator names its field as data
            loc = (*loc, *str(ctx["field"]).split("."))
            message = str(ctx["detail"])
        field = dotted_field(loc)
        if field is None and loc[:1] == ("body",):
            field = "body"  # the body as a whole (missing, or not an object)
        if kind == "missing" and field is None:
            message = "the request body is missing; send a JSON object"
        elif field is None and kind in ("model_attributes_type", "dict_type", "model_type"):
            message = "the request body must be a JSON object"
        allowed = allowed_for_loc(request, loc, ctx)
        text = f"{field}: {message}" if field else message
        items.append(ErrorItem("validation_error", text, field=field, allowed=allowed))
    named = {item["field"] for item in items}
    problems_of = getattr(body_model(request), "problems_of", None)
    for field, message in (problems_of(exc.body) if problems_of else {}).items():
        if field not in named:  # what the schema could not see once the body failed
            items.append(ErrorItem("validation_error", f"{field}: {message}", field=field,
                                   allowed=allowed_for_loc(request, ("body", field), {})))
    if not items:
        items.append(ErrorItem("validation_error", "the request is invalid"))
    return items


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ApiError.from_items(422, _validation_items(request, exc)))


def _allowed_methods(request: Request, fallback: str | None) -> str:
    """Every method the API documents on this path (Starlette's 405 names only the first
    matching route's, and a path has one route per method); routes outside the schema
    keep Starlette's answer."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))),
             {m.upper() for m in item if m in _HTTP_METHODS})
            for path, item in request.app.openapi()["paths"].items()
        ]
        request.app.state.allowed_methods = table
    root = request.scope.get("root_path", "")
    path = request.url.path.removeprefix(root) if root else request.url.path
    methods = set().union(*(m for rx, m in table if rx.fullmatch(path)))
    if not methods:
        methods = {m.strip() for m in (fallback or "").split(",") if m.strip()}
    return ", ".join(sorted(methods | {"OPTIONS"}))


_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head")


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; the API lives under /api/v1 (see /docs)"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request, (exc.headers or {}).get("Allow"))
        if request.method == "OPTIONS":  # what the resource accepts, as RFC 9110 asks
            return Response(status_code=204, headers={"Allow": allowed})
        message = f"method {request.method} is not allowed on {request.url.path}; use {allowed}"
        exc.headers = {**(exc.headers or {}), "Allow": allowed}
    elif exc.status_code == 413 and not isinstance(exc, BodyTooLarge):
        message = "the request body is too large; send a smaller body"
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 400:  # FastAPI/Starlette answer 400 only to a body they cannot parse
        return error_response(_unparsable_body(exc, message))
    if isinstance(exc, BodyTooLarge):
        return error_response(
            ApiError(413, code, message, field=exc.field, allowed=f"<= {exc.limit} bytes")
        )
    return error_response(ApiError(exc.status_code, code, message, headers=headers))


def _unparsable_body(exc: BaseException, message: str) -> ApiError:
    """A body the framework could not parse: a full disk while a multipart upload is spooled
    (507), or a body that is not UTF-8 JSON / well-formed form data (400, field ``body``)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        full = cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        reason = "the server's disk is full" if full else f"the server cannot write ({cause})"
        return ApiError(
            507, "insufficient_storage",
            f"the request body could not be received: {reason}; nothing was kept. Ask the "
            "operator to free space for temporary files (TMPDIR) and the data directory",
        )
    detail = message.rstrip(".")
    if message == "There was an error parsing the body":  # FastAPI's generic text
        detail = type(cause).__name__ if cause is not None else "malformed"
    return ApiError(
        400, "bad_request",
        f"body: the request body could not be parsed ({detail}); send UTF-8 JSON with "
        "Content-Type: application/json (uploads: multipart/form-data)",
        field="body",
    )


async def _on_service(request: Request, exc: Exception) -> JSONResponse:
    message = str(exc)
    if isinstance(exc, NotFoundError):
        return error_response(ApiError(404, "not_found", message))
    if isinstance(exc, ConflictError):
        return error_response(ApiError(409, "conflict", message))
    if isinstance(exc, StorageUnavailableError):
        # The driver's text names hosts and SQL: it goes to the log, not to the client.
        _log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(ApiError(503, "storage_unavailable", _STORAGE_DOWN))
    return error_response(ApiError(400, "bad_request", message))


async def _on_core(request: Request, exc: Exception) -> JSONResponse:
    code = "invalid_dataset" if isinstance(exc, DatasetError) else "validation_error"
    return error_response(ApiError(422, code, str(exc)))


def _is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database connection/driver failure (Optuna's
    ``StorageInternalError`` wraps every driver error of its sessions)."""
    return isinstance(exc, StorageInternalError) or is_connection_error(exc)


async def _on_driver(request: Request, exc: Exception) -> JSONResponse:
    if _is_storage_error(exc):
        _log.warning("storage error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(ApiError(503, "storage_unavailable", _STORAGE_DOWN))
    return await _on_unexpected(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        ApiError(
            500,
            "internal_error",
            "the server failed unexpectedly; the server log has the details",
        )
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that answer every error in the one JSON shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ServiceError, _on_service)
    app.add_exception_handler(ConfigError, _on_core)
    app.add_exception_handler(DatasetError, _on_core)
    for driver_error in _DRIVER_ERRORS:
        app.add_exception_handler(driver_error, _on_driver)
    # Starlette calls the Exception handler from its outermost middleware (and then
    # re-raises for the server's log); the body never carries the traceback.
    app.add_exception_handler(Exception, _on_unexpected)
