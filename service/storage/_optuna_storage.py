"""The Optuna storage of the service: opened once per process, with retried stale trials.

Built on :mod:`service.storage._engine` (URL, engine options, the schema lock) and
:mod:`service.storage._schema` (the indexes the service adds to Optuna's tables).
"""

from __future__ import annotations

import copy
import warnings

import optuna
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from service.errors import StorageUnavailableError
from service.storage._engine import (
    _engine_kwargs,
    _prepare,
    _sqlite_on_connect,
    db_lock,
    make_engine,
    redact_url,
)
from service.storage._schema import add_optuna_indexes

__all__ = ["MAX_RETRIES", "open_storage", "retry_callback"]


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
        raise StorageUnavailableError(f"cannot open storage {redact_url(url)}: {e}") from e
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
