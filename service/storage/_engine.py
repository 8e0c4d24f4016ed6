"""Engines, the Optuna storage and the one session context manager.

SQLite (the single-machine default) is opened in WAL mode with a 30 s busy
timeout on every connection, so two or three local worker processes wait for
each other instead of failing with "database is locked". PostgreSQL goes through
psycopg 3 with ``pool_pre_ping`` so a restarted server costs one retry, not an
error. Driver errors are translated into :class:`StorageUnavailableError` here.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import ConflictError, StorageUnavailableError

__all__ = [
    "BUSY_TIMEOUT_S",
    "MAX_RETRIES",
    "is_connection_error",
    "make_engine",
    "normalise_url",
    "open_storage",
    "retry_callback",
    "session_scope",
    "sqlite_path",
]

BUSY_TIMEOUT_S = 30.0

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Rewrite ``postgresql://`` / ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    StorageUnavailableError,
)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` or one of its causes says the database is unreachable or busy for
    now (refused or dropped connections, a full pool, SQLite's lock timeout) — an error
    that retrying later can cure, unlike a constraint violation or a finished trial.

    Optuna wraps driver errors in ``StorageInternalError``; the cause chain is followed.
    """
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, _CONNECTION_ERRORS):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if type(seen).__name__ in ("OperationalError", "InterfaceError") and type(
            seen
        ).__module__.startswith(("psycopg", "sqlite3")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL, or None (other backends, in-memory SQLite)."""
    parsed = sqlalchemy.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _engine_kwargs(url: str) -> dict[str, Any]:
    backend = sqlalchemy.make_url(url).get_backend_name()
    if backend == "sqlite":
        # ``timeout`` is sqlite3's busy handler; it also covers the very first connection,
        # made before the connect event below can be attached to Optuna's engine.
        return {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
    if backend == "postgresql":
        return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}
    return {"pool_pre_ping": True}


def _prepare(url: str) -> str:
    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


def make_engine(url: str) -> Engine:
    """The process's SQLAlchemy engine for ``url`` (created once, then reused).

    Args:
        url: An SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://...``
            (``postgresql://`` is rewritten to psycopg).

    Returns:
        An engine whose SQLite connections use WAL and a 30 s busy timeout.

    Raises:
        StorageUnavailableError: the URL names no installed driver.
    """
    url = _prepare(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            try:
                engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
            except (ImportError, SQLAlchemyError) as e:
                raise StorageUnavailableError(
                    f"cannot open storage URL {_redact(url)}: {e}; use sqlite:///<file> or "
                    "postgresql+psycopg://user@host:port/db"
                ) from e
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_on_connect)
            _engines[url] = engine
        return engine


def open_storage(
    url: str, *, heartbeat_interval: int, grace_period: int
) -> optuna.storages.RDBStorage:
    """Open (and create if needed) the Optuna RDB storage at ``url``.

    Args:
        url: SQLAlchemy URL as for :func:`make_engine`.
        heartbeat_interval: Seconds between trial heartbeats (workers record them).
        grace_period: Seconds without heartbeat after which a RUNNING trial is failed
            by ``optuna.storages.fail_stale_trials`` and retried.

    Returns:
        The storage; its stale trials are re-enqueued by ``RetryHeartbeatStaleTrialCallback``.
        The service's indexes on Optuna's tables are created if missing.

    Raises:
        StorageUnavailableError: the database cannot be reached.
    """
    from service.storage._claim import db_lock  # the lock serialises table creation
    from service.storage._schema import add_optuna_indexes

    url = _prepare(url)
    engine = make_engine(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            with db_lock(engine, key=0):
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=retry_callback(),
                )
                with storage.engine.begin() as conn:
                    add_optuna_indexes(conn)
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
        raise StorageUnavailableError(f"cannot open storage {_redact(url)}: {e}") from e
    if storage.engine.dialect.name == "sqlite":
        event.listen(storage.engine, "connect", _sqlite_on_connect)
        storage.engine.dispose()  # pooled connections made before the listener get replaced
    return storage


MAX_RETRIES = 3


class _FreshRetry(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback, except that the WAITING copy keeps the parameters but not
    the failed run's user attributes: every one of them (``history``, ``search_cost_macs``
    ...) describes that run, and copied onto the retry they would be charged a second time
    against a compute budget (``studies.budget.spent``)."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        fresh = copy.copy(trial)
        fresh.user_attrs = {}
        super().__call__(study, fresh)


def retry_callback() -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """A callback that enqueues a WAITING copy of a failed trial (its parameters, not its
    user attributes), at most 3 times."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _FreshRetry(max_retry=MAX_RETRIES)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception.

    Raises:
        StorageUnavailableError: a driver error occurred (the transaction is rolled back).
    """
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise ConflictError(f"conflicting write: {e.orig}") from e
    except SQLAlchemyError as e:
        session.rollback()
        raise StorageUnavailableError(f"database error: {e.__class__.__name__}: {e}") from e
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _redact(url: str) -> str:
    try:
        return sqlalchemy.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"
