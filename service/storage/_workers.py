"""Worker heartbeat rows: which worker processes are alive and what they run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.storage._engine import session_scope
from service.storage._schema import WorkerRow, utcnow

__all__ = [
    "WorkerInfo",
    "forget_worker",
    "live_workers",
    "record_worker_heartbeat",
    "workers_of_process",
]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process as last reported by its heartbeat (times naive UTC)."""

    worker_id: str
    host: str
    pid: int | None
    device: str
    started_at: datetime
    last_seen: datetime
    study_id: str | None
    trial_number: int | None


def record_worker_heartbeat(
    engine: Engine, worker_id: str, *, host: str, device: str, pid: int | None = None,
    study_id: str | None = None, trial_number: int | None = None,
) -> None:
    """Insert or refresh the heartbeat row of ``worker_id`` (what it runs now, if anything)."""
    with session_scope(engine) as session:
        row = session.get(WorkerRow, worker_id)
        now = utcnow()
        if row is None:
            row = WorkerRow(worker_id=worker_id, host=host, device=device, pid=pid,
                            started_at=now)
            session.add(row)
        row.last_seen = now
        row.device = device
        row.study_id = study_id
        row.trial_number = trial_number


def forget_worker(engine: Engine, worker_id: str) -> None:
    """Delete a worker's row (called on clean shutdown)."""
    with session_scope(engine) as session:
        row = session.get(WorkerRow, worker_id)
        if row is not None:
            session.delete(row)


def _info(r: WorkerRow) -> WorkerInfo:
    return WorkerInfo(worker_id=r.worker_id, host=r.host, pid=r.pid, device=r.device,
                      started_at=r.started_at, last_seen=r.last_seen, study_id=r.study_id,
                      trial_number=r.trial_number)


def live_workers(engine: Engine, *, within_s: float) -> list[WorkerInfo]:
    """Workers whose last heartbeat is at most ``within_s`` seconds old, oldest first."""
    cutoff = utcnow() - timedelta(seconds=within_s)
    with session_scope(engine) as session:
        rows = session.scalars(
            select(WorkerRow).where(WorkerRow.last_seen >= cutoff).order_by(WorkerRow.started_at)
        ).all()
        return [_info(r) for r in rows]


def workers_of_process(engine: Engine, *, host: str, pid: int) -> list[WorkerInfo]:
    """The heartbeat rows of the worker process ``pid`` on ``host`` (one, or none)."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(WorkerRow).where(WorkerRow.host == host, WorkerRow.pid == pid)
        ).all()
        return [_info(r) for r in rows]
