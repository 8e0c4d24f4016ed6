"""The service's tables beside Optuna's, in the same database, with a schema version.

``snk_studies`` maps a public id to an Optuna study and holds its status (the one
field workers and the API both write); its spec is the Optuna study's ``spec`` user
attribute (one stored copy); ``snk_comparisons`` holds the arms' shared spec;
``snk_workers`` holds one heartbeat row per worker process;
``snk_schema_version`` records which :data:`MIGRATIONS` have been applied.
"""

from __future__ import annotations

import json
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
from service.storage._optuna_private import optuna_models

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

SCHEMA_VERSION = 2


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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # path studies (lambda_path, prune_path) run as one training owned by one worker.
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


def _one_spec_copy(conn: Connection) -> None:
    """Version 2: the spec's one stored copy is the Optuna study's ``spec`` user attribute.

    Version 1 kept a second copy in ``snk_studies.spec``. Any study whose Optuna study
    lacks the attribute gets it from the row first, then the column is dropped.
    """
    rows = conn.execute(text("SELECT study_name, spec FROM snk_studies")).all()
    study = optuna_models.StudyModel.__table__
    attr = optuna_models.StudyUserAttributeModel.__table__
    for name, spec in rows:
        study_id = conn.execute(
            select(study.c.study_id).where(study.c.study_name == name)).scalar()
        if study_id is None:
            continue  # a row being deleted: nothing to keep
        has = conn.execute(select(attr.c.key).where(
            attr.c.study_id == study_id, attr.c.key == "spec")).scalar()
        if has is None:
            value = spec if isinstance(spec, str) else json.dumps(spec)
            conn.execute(insert(attr).values(study_id=study_id, key="spec", value_json=value))
    conn.execute(text("ALTER TABLE snk_studies DROP COLUMN spec"))


#: version -> migration run inside the schema-creation transaction to reach it from the
#: version before. Version 1 is the initial ``create_all``.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _one_spec_copy}


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
