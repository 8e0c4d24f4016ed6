"""Engines, the one session context manager and the database-wide lock.

SQLite (the single-machine default) is opened in WAL mode with a 30 s busy
timeout on every connection, so two or three local worker processes wait for
each other instead of failing with "database is locked". PostgreSQL goes through
psycopg 3 with ``pool_pre_ping`` so a restarted server costs one retry, not an
error. Driver errors are translated into :class:`StorageUnavailableError` here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from filelock import FileLock
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import ConflictError, StorageUnavailableError

__all__ = [
    "BUSY_TIMEOUT_S",
    "LOCK_NAMESPACE",
    "db_lock",
    "is_connection_error",
    "make_engine",
    "normalise_url",
    "redact_url",
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
                    f"cannot open storage URL {redact_url(url)}: {e}; use sqlite:///<file> or "
                    "postgresql+psycopg://user@host:port/db"
                ) from e
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_on_connect)
            _engines[url] = engine
        return engine


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


def redact_url(url: str) -> str:
    """``url`` with its password hidden, for messages and logs."""
    try:
        return sqlalchemy.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


LOCK_NAMESPACE = 0x534E4B  # "SNK": first key of our PostgreSQL advisory locks
_LOCK_TIMEOUT_S = 120.0
_thread_locks: dict[str, threading.Lock] = {}


@contextmanager
def db_lock(engine: Engine, *, key: int) -> Iterator[None]:
    """Hold the database-wide lock ``key`` (0: schema creation; study id: claims).

    Args:
        engine: Engine of the database.
        key: Lock key; on PostgreSQL each key is an independent advisory lock, on SQLite
            all keys share the file lock (claims are short).

    Raises:
        filelock.Timeout: the SQLite lock was not free within 120 s.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": LOCK_NAMESPACE, "key": key},
            )
            try:
                yield
            finally:
                conn.rollback()  # ends the transaction, releasing the lock
        return
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None:
        with FileLock(f"{path}.lock", timeout=_LOCK_TIMEOUT_S):
            yield
        return
    lock = _thread_locks.setdefault(str(engine.url), threading.Lock())
    with lock:
        yield
