"""``/healthz``: is the database reachable, and which workers have sent a heartbeat lately."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import SettingsDep, get_backend
from service.api.errors import ApiError
from service.api.schemas import ErrorOut, HealthOut, WorkerOut
from service.errors import StorageUnavailableError
from service.storage import SCHEMA_VERSION, live_workers

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", response_model=HealthOut, name="healthz",
    responses={503: {"model": ErrorOut, "description": "the database is unreachable"}},
)
def healthz(request: Request, settings: SettingsDep) -> HealthOut:
    """200 when the database answers (with the workers seen within the grace period),
    503 with an error body when it does not."""
    try:
        backend = get_backend(request, settings)
        with backend.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        workers = live_workers(backend.engine, within_s=settings.grace_period_s)
    except (StorageUnavailableError, SQLAlchemyError) as e:
        raise ApiError(
            503,
            "storage_unavailable",
            f"the database is unreachable ({type(e).__name__}); check SHRINKNETS_STORAGE_URL "
            "and that the database server is running",
        ) from e
    return HealthOut(
        status="ok",
        storage=backend.engine.dialect.name,
        schema_version=SCHEMA_VERSION,
        workers=[
            WorkerOut(
                worker_id=w.worker_id, host=w.host, device=w.device, last_seen=w.last_seen,
                study_id=w.study_id, trial_number=w.trial_number,
            )
            for w in workers
        ],
    )
