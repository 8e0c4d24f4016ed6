"""Dependencies shared by the routers: settings, the storage backend, auth and paging.

Settings reach every route through :func:`get_settings`, so a test swaps them with
``app.dependency_overrides[get_settings] = lambda: Settings(...)``. The database engine
and the Optuna storage are opened once per process and storage URL (lazily, so the API
starts even while the database is down and answers 503 until it is back).
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

import optuna
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from service.api._cache import ResultCache
from service.api._readers import TrialReaders
from service.api.errors import ApiError
from service.artifacts import open_artifact_store
from service.settings import Settings, is_loopback_host
from service.storage import open_backend

__all__ = [
    "Backend",
    "BackendDep",
    "Backends",
    "CacheDep",
    "Page",
    "PageDep",
    "SettingsDep",
    "WriteAccess",
    "get_backend",
    "get_cache",
    "get_page",
    "get_settings",
    "require_write",
]


@dataclass(frozen=True)
class Backend:
    """The process's handles on one database (SQLAlchemy engine and Optuna storage) and
    on the artifact store of its trained networks."""

    url: str
    engine: Engine
    storage: optuna.storages.RDBStorage
    artifacts: Any
    readers: TrialReaders = field(default_factory=TrialReaders)


class Backends:
    """Opens each storage URL once per process (schema created or migrated on first use).

    A failed open is not cached, so the next request retries (e.g. after the database
    server comes back).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, Backend] = {}

    def get(self, settings: Settings) -> Backend:
        """The backend for ``settings.storage_url``.

        Raises:
            StorageUnavailableError: the database cannot be reached.
        """
        url = settings.storage_url
        with self._lock:
            backend = self._by_url.get(url)
            if backend is None:
                opened = open_backend(settings)
                backend = Backend(url=url, engine=opened.engine, storage=opened.storage,
                                  artifacts=open_artifact_store(settings))
                self._by_url[url] = backend
            return backend

    def close(self) -> None:
        """Dispose of every pooled connection (at application shutdown)."""
        with self._lock:
            for backend in self._by_url.values():
                backend.storage.engine.dispose()
                backend.engine.dispose()
            self._by_url.clear()


def get_settings(request: Request) -> Settings:
    """The settings the app was created with (override this dependency in tests)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_backend(request: Request, settings: SettingsDep) -> Backend:
    """The engine and Optuna storage for the current settings' storage URL."""
    backends: Backends = request.app.state.backends
    return backends.get(settings)


BackendDep = Annotated[Backend, Depends(get_backend)]


def get_cache(request: Request) -> ResultCache:
    """The process's cache of figures and metrics of finished studies."""
    cache: ResultCache = request.app.state.cache
    return cache


CacheDep = Annotated[ResultCache, Depends(get_cache)]

_bearer = HTTPBearer(
    auto_error=False,
    description="Required on POST/DELETE routes when the server sets SHRINKNETS_API_TOKEN.",
)


def require_write(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Allow a mutating request: bearer token (when one is set), then not read-only.

    Without a token, only clients on this machine (loopback) may mutate, however the app
    was started (``serve`` refuses a non-loopback host without a token; ``uvicorn --host
    0.0.0.0`` does not know to): a client from elsewhere gets 403 naming the fix.

    Raises:
        ApiError: 401 (with ``WWW-Authenticate``) for a missing or wrong token, 403 when
            the server is read-only or the client is remote and no token is set.
    """
    if settings.api_token is not None:
        expected = settings.api_token.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials is not None else b""
        if credentials is None or not hmac.compare_digest(given, expected):
            problem = "is missing" if credentials is None else "is wrong"
            raise ApiError(
                401,
                "unauthorized",
                f"the bearer token {problem}; send 'Authorization: Bearer <token>' with the "
                "token the server was started with (SHRINKNETS_API_TOKEN)",
                field="Authorization",
                headers={"WWW-Authenticate": 'Bearer realm="shrinknets"'},
            )
    elif not settings.read_only and not _from_this_machine(request):
        raise ApiError(
            403,
            "token_required",
            "this server has no API token, so it accepts changes only from its own machine; "
            "start it with SHRINKNETS_API_TOKEN set (clients send 'Authorization: Bearer "
            "<token>'), or send the request from the server itself",
        )
    if settings.read_only:
        raise ApiError(
            403,
            "read_only",
            "this server is read-only (SHRINKNETS_READ_ONLY=true); studies, comparisons "
            "and datasets cannot be created, cancelled or deleted here",
        )


def _from_this_machine(request: Request) -> bool:
    """True when the client's address is loopback. Starlette's in-process ``TestClient``
    names its peer ``testclient``, which no socket peer can be; it counts as local."""
    client = request.client
    if client is None or client.host == "testclient":
        return True
    return is_loopback_host(client.host)


WriteAccess = Depends(require_write)


MAX_OFFSET = 10**9
"""Largest ``offset`` accepted (a database cannot skip more rows than a 64-bit integer)."""


@dataclass(frozen=True)
class Page:
    """One page of a list: skip ``offset`` items, return at most ``limit``."""

    offset: int
    limit: int


def get_page(
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
    limit: Annotated[
        int | None, Query(ge=1, description="page size (at most the server's max_page_size)")
    ] = None,
) -> Page:
    """Paging parameters, ``limit`` checked against ``settings.max_page_size``.

    Raises:
        ApiError: 422 naming ``limit`` and the allowed range.
    """
    if limit is None:
        limit = min(50, settings.max_page_size)
    if limit > settings.max_page_size:
        raise ApiError(
            422,
            "validation_error",
            f"limit: {limit} is larger than this server's page size limit; "
            f"ask for at most {settings.max_page_size} items and page with offset",
            field="limit",
            allowed=f"1..{settings.max_page_size}",
        )
    return Page(offset=offset, limit=limit)


PageDep = Annotated[Page, Depends(get_page)]
