"""Comparisons: a λ study and a width study created on one spec, all or nothing."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import optuna
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.errors import NotFoundError
from service.storage._engine import session_scope
from service.storage._records import _as_spec, _new_id, _new_row, _undo, _with_kind
from service.storage._schema import ComparisonRow, StudyRow, utcnow

if TYPE_CHECKING:
    from studies.spec import StudySpec

__all__ = [
    "ComparisonRecord",
    "create_comparison",
    "delete_comparison",
    "get_comparison_record",
    "list_comparison_records",
]


@dataclass(frozen=True)
class ComparisonRecord:
    """A λ study and a width study run on one spec."""

    id: str
    name: str
    lambda_study_id: str
    width_study_id: str
    created_at: datetime
    spec: dict[str, Any] = field(repr=False)


def create_comparison(
    storage: optuna.storages.BaseStorage, engine: Engine, spec: StudySpec | dict[str, Any]
) -> ComparisonRecord:
    """Create a λ study and a width study on one spec, all or nothing.

    The λ side keeps ``search.kind`` when it is ``lambda_path``, else uses ``lambda``;
    the width side uses ``width``. Both share every other field (dataset, architecture,
    training, budget, seed).

    Raises:
        ConfigError: the spec is invalid.
        StorageUnavailableError: the database failed; nothing was created.
    """
    spec = _as_spec(spec)
    lam_kind = "lambda_path" if spec.search.kind == "lambda_path" else "lambda"
    cid = _new_id()
    created: list[str] = []
    try:
        lam_row = _new_row(_with_kind(spec, lam_kind), storage, _new_id(), cid, created)
        width_row = _new_row(_with_kind(spec, "width"), storage, _new_id(), cid, created)
        comparison = ComparisonRow(
            id=cid, name=spec.name, spec=spec.model_dump(mode="json"), created_at=utcnow(),
        )
        with session_scope(engine) as session:
            session.add(comparison)
            session.flush()  # the study rows reference it
            session.add_all([lam_row, width_row])
    except BaseException:
        _undo(storage, created)
        raise
    return ComparisonRecord(
        id=cid, name=comparison.name, lambda_study_id=lam_row.id, width_study_id=width_row.id,
        created_at=comparison.created_at, spec=dict(comparison.spec),
    )


def _comparison(row: ComparisonRow, studies: list[StudyRow]) -> ComparisonRecord:
    by_kind = {s.kind: s.id for s in studies}
    return ComparisonRecord(
        id=row.id, name=row.name,
        lambda_study_id=by_kind.get("lambda", by_kind.get("lambda_path", "")),
        width_study_id=by_kind.get("width", ""), created_at=row.created_at, spec=dict(row.spec),
    )


def get_comparison_record(engine: Engine, id: str) -> ComparisonRecord:
    """The comparison with public id ``id``. Raises :class:`NotFoundError`."""
    with session_scope(engine) as session:
        row = session.get(ComparisonRow, id)
        if row is None:
            raise NotFoundError("comparison", id)
        studies = session.scalars(select(StudyRow).where(StudyRow.comparison_id == id)).all()
        return _comparison(row, list(studies))


def list_comparison_records(
    engine: Engine, *, offset: int = 0, limit: int = 50
) -> list[ComparisonRecord]:
    """Comparisons, newest first."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(ComparisonRow).order_by(ComparisonRow.created_at.desc(), ComparisonRow.id)
            .offset(offset).limit(limit)
        ).all()
        studies = session.scalars(
            select(StudyRow).where(StudyRow.comparison_id.in_([r.id for r in rows]))
        ).all()
        return [_comparison(r, [s for s in studies if s.comparison_id == r.id]) for r in rows]


def delete_comparison(storage: optuna.storages.BaseStorage, engine: Engine, id: str) -> None:
    """Delete a comparison and both of its studies. Raises :class:`NotFoundError`."""
    with session_scope(engine) as session:
        row = session.get(ComparisonRow, id)
        if row is None:
            raise NotFoundError("comparison", id)
        studies = session.scalars(select(StudyRow).where(StudyRow.comparison_id == id)).all()
        names = [s.study_name for s in studies]
        for s in studies:
            session.delete(s)
        session.flush()
        session.delete(row)
    for name in names:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
