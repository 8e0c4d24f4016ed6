"""Shared fixtures: storage URLs for SQLite and a fresh PostgreSQL database per test run.

PostgreSQL runs at 127.0.0.1:5432 (trust auth, user ``postgres``, database ``test``).
Each test session creates its own database (``tests/_pg.py``) and drops it at the end,
so runs never see each other's studies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _pg import fresh_pg_database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, as an SQLAlchemy URL."""
    with fresh_pg_database("session") as (url, _name):
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty Optuna RDB storage URL, once on SQLite and once on PostgreSQL.

    The PostgreSQL variant shares the session database; tests must use unique
    study names (e.g. include ``tmp_path.name``).
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: a new SQLite file, or a new PostgreSQL database that
    already holds the (empty) tables (``fresh_pg_database(schema=True)``: copied from a
    template, which saves creating them per test; the hardening tests start from empty
    databases)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with fresh_pg_database("fresh", schema=True) as (url, _name):
        yield url
