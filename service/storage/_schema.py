"""The service's tables beside Optuna's, in the same database, with a schema version.

``snk_studies`` maps a public id to an Optuna study and holds its status (the one
field workers and the API both write); ``snk_comparisons`` pairs a λ study with a
width study; ``snk_workers`` holds one heartbeat row per worker process;
``snk_schema_version`` records which :data:`MIGRATIONS` have been applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.errors import ConflictError
from service.storage._engine import db_lock

__all__ = [
    "SCHEMA_VERSION",
    "TRIAL_STATE_INDEX",
    "Base",
    "ComparisonRow",
    "SchemaVersionRow",
    "StudyRow",
    "WorkerRow",
    "add_optuna_indexes",
    "init_schema",
    "utcnow",
]

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    """Timezone-aware now; stored as naive UTC for SQLite/PostgreSQL parity."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ComparisonRow(Base):
    __tablename__ = "snk_comparisons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StudyRow(Base):
    __tablename__ = "snk_studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    study_name: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    dataset: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    n_trials: Mapped[int] = mapped_column(Integer)
    comparison_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("snk_comparisons.id", ondelete="SET NULL"), nullable=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # lambda_path studies run as one training owned by one worker.
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)


class WorkerRow(Base):
    __tablename__ = "snk_workers"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    study_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SchemaVersionRow(Base):
    __tablename__ = "snk_schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


#: version -> migration run inside the schema-creation transaction to reach it.
#: Version 1 is the initial ``create_all``; add ``2: _add_column_x`` etc. here.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


TRIAL_STATE_INDEX = "ix_snk_trials_study_state"
"""Our index on Optuna's ``trials`` table: trial counts per state (progress, budget claims)
read it alone instead of every trial row."""


def add_optuna_indexes(conn: Connection) -> None:
    """Create the service's indexes on Optuna's tables (idempotent; Optuna ignores them)."""
    conn.execute(
        text(f"CREATE INDEX IF NOT EXISTS {TRIAL_STATE_INDEX} ON trials (study_id, state)")
    )


def init_schema(engine: Engine) -> int:
    """Create or migrate the service tables; safe to call from many processes at once.

    Args:
        engine: Engine of the same database as the Optuna storage.

    Returns:
        The schema version now in the database (:data:`SCHEMA_VERSION`).

    Raises:
        ConflictError: the database was migrated by a newer version of this code.
        StorageUnavailableError: the database cannot be reached.
    """
    with db_lock(engine, key=0), engine.begin() as conn:
        Base.metadata.create_all(conn, checkfirst=True)
        current = conn.execute(select(SchemaVersionRow.version).order_by(
            SchemaVersionRow.version.desc()).limit(1)).scalar()
        if current is None:
            conn.execute(insert(SchemaVersionRow).values(
                version=SCHEMA_VERSION, applied_at=utcnow()))
            return SCHEMA_VERSION
        if current > SCHEMA_VERSION:
            raise ConflictError(
                f"database schema version {current} is newer than this code's "
                f"{SCHEMA_VERSION}; upgrade shrinknets on this machine"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn)
            conn.execute(insert(SchemaVersionRow).values(
                version=version, applied_at=utcnow()))
        return SCHEMA_VERSION
