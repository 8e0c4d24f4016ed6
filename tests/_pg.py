"""Fresh PostgreSQL databases for tests (127.0.0.1:5432, trust auth, user ``postgres``).

Every test that needs an empty database gets its own, created from the admin database
``test`` and dropped afterwards. Set ``SHRINKNETS_TEST_PG_URL`` to use another server.
Unreachable server: the test is skipped, or failed under ``CI`` (CI must have PostgreSQL).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
from collections.abc import Iterator

import pytest

__all__ = ["PG_ADMIN_URL", "POSTGRES_SLOW", "fresh_pg_database", "pg_reachable"]

#: Parameters for a database fixture (``indirect``) of an end-to-end test whose PostgreSQL
#: twin repeats what other tests already cover on PostgreSQL: SQLite in ``make test``,
#: PostgreSQL in ``make test-slow`` (keeps the default suite under 10 minutes).
POSTGRES_SLOW = ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres,
                                                           pytest.mark.slow])]

PG_ADMIN_URL = os.environ.get(
    "SHRINKNETS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_counter = itertools.count()


def pg_reachable() -> bool:
    """Whether the admin database answers within 3 s."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def _url_of(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


@functools.cache
def _schema_template() -> str:
    """A database holding the service's and Optuna's tables and nothing else, made once per
    test process (dropped at its exit): ``CREATE DATABASE … TEMPLATE`` copies it in a
    fraction of the time the tables take to create."""
    import atexit

    import psycopg

    from service.storage import init_schema, make_engine, open_storage
    from service.storage._engine import _engines

    name = f"snk_test_{os.getpid()}_template"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _url_of(name)
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    init_schema(make_engine(url))
    storage.engine.dispose()
    for key, engine in list(_engines.items()):
        if key.endswith(f"/{name}"):
            engine.dispose()
            del _engines[key]

    def drop() -> None:
        with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN_URL,
                                                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    return name


@contextlib.contextmanager
def fresh_pg_database(tag: str = "", *, schema: bool = False) -> Iterator[tuple[str, str]]:
    """Create a database, yield ``(sqlalchemy_url, database_name)``, then drop it.

    ``tag`` (letters and digits kept) goes into the name to tell test databases apart.
    ``schema``: a copy of a database holding the service's and Optuna's (empty) tables,
    as after the first start of the API or a worker; else an empty database.
    Engines the service cached for the database are disposed of before the drop, and a
    database a test closed to new connections is reopened so it can be dropped.
    """
    import psycopg

    if not pg_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; start it first")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    suffix = re.sub(r"[^a-z0-9]", "", tag.lower())[:16]
    name = f"snk_test_{os.getpid()}_{next(_counter)}_{suffix}".rstrip("_")
    template = f' TEMPLATE "{_schema_template()}"' if schema else ""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield _url_of(name), name
    finally:
        from service.storage._engine import _engines

        for url, engine in list(_engines.items()):
            if url.endswith(f"/{name}"):
                engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
