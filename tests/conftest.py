"""Shared fixtures: storage URLs for SQLite and a fresh PostgreSQL database per test run.

PostgreSQL runs at 127.0.0.1:5432 (trust auth, user ``postgres``, database ``test``).
Each test session creates its own database ``shrinknets_test_<pid>`` and drops it at
the end, so runs never see each other's studies. Set ``SHRINKNETS_TEST_PG_URL`` to
point at another server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "SHRINKNETS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, as an SQLAlchemy URL."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; start it first")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    import psycopg

    name = f"shrinknets_test_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty Optuna RDB storage URL, once on SQLite and once on PostgreSQL.

    The PostgreSQL variant shares the session database; tests must use unique
    study names (e.g. include ``tmp_path.name``).
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return str(request.getfixturevalue("pg_database"))
