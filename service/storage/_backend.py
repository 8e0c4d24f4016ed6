"""The one way to open the database: CLI, API and workers all call :func:`open_backend`."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from sqlalchemy.engine import Engine

from service.settings import Settings
from service.storage._engine import make_engine
from service.storage._optuna_storage import open_storage
from service.storage._schema import init_schema

__all__ = ["StorageBackend", "open_backend"]


@dataclass(frozen=True)
class StorageBackend:
    """A process's handles on one database: the SQLAlchemy engine of the service's tables
    and the Optuna storage (heartbeats on), both for ``url``."""

    url: str
    engine: Engine
    storage: optuna.storages.RDBStorage


def open_backend(settings: Settings) -> StorageBackend:
    """Open ``settings.storage_url`` (already normalised by :class:`Settings`): the engine
    (service tables created or migrated), then the Optuna storage with the settings'
    heartbeat interval and grace period.

    Raises:
        StorageUnavailableError: the database cannot be reached.
        ConflictError: the database was migrated by a newer version of this code.
    """
    url = settings.storage_url
    engine = make_engine(url)
    init_schema(engine)
    storage = open_storage(url, heartbeat_interval=settings.heartbeat_interval_s,
                           grace_period=settings.grace_period_s)
    return StorageBackend(url=url, engine=engine, storage=storage)
