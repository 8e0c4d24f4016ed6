"""Comparisons: one study per arm (``studies.arms``) on one spec.

A comparison row holds the shared spec; each arm is an ordinary study row pointing at it
(``service.scheduler.create_comparison`` writes them all or nothing). The arm of a study
is read back from its stored spec (``studies.arms.arm_of_dict``), so rows written before
arms existed (a ``lambda`` and a ``width`` study) read as those two arms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.errors import NotFoundError
from service.storage._engine import session_scope
from service.storage._records import (
    SETTLED_STATUSES,
    StudyRecord,
    insert_study_records,
    records_of,
)
from service.storage._schema import ComparisonRow, StudyRow
from studies.arms import ARMS, arm_of_dict

__all__ = [
    "ComparisonRecord",
    "comparison_status",
    "comparison_studies",
    "comparisons_studies",
    "count_comparison_records",
    "delete_comparison",
    "get_comparison_record",
    "insert_comparison",
    "list_comparison_records",
]


def comparison_status(statuses: set[str]) -> str:
    """A comparison's status from its arms' study statuses: ``cancelled`` when one arm
    was cancelled, ``queued`` while every arm is, ``running`` until every arm settled,
    then ``failed`` when an arm failed, else ``finished``."""
    if "cancelled" in statuses:
        return "cancelled"
    if statuses == {"queued"}:
        return "queued"
    if not statuses <= set(SETTLED_STATUSES):
        return "running"
    return "failed" if "failed" in statuses else "finished"


@dataclass(frozen=True)
class ComparisonRecord:
    """Studies (arms) run on one spec.

    Attributes:
        id: Public id used in URLs.
        name: The spec's name.
        arms: Arm (``lambda``, ``lambda_path``, ``prune_path``, ``width``,
            ``width_hyperband``, ``width_mo_asha``) → study id, in the order the arms were
            created.
        created_at: Naive UTC creation time.
        spec: The shared spec as JSON (each arm's study stores its own ``arm_spec``).
    """

    id: str
    name: str
    arms: dict[str, str]
    created_at: datetime
    spec: dict[str, Any] = field(repr=False)

    @property
    def study_ids(self) -> list[str]:
        """Every arm's study id, in arm order."""
        return list(self.arms.values())

    @property
    def lambda_study_id(self) -> str:
        """The λ arm's study (``lambda``, else ``lambda_path``); ``""`` when there is none.
        Deprecated since 0.1.0 (read :attr:`arms`); removed in 0.3.0."""
        return self.arms.get("lambda") or self.arms.get("lambda_path") or ""

    @property
    def width_study_id(self) -> str:
        """The plain width-search arm's study; ``""`` when there is none. Deprecated since
        0.1.0 (read :attr:`arms`); removed in 0.3.0."""
        return self.arms.get("width", "")


def _in_order(studies: list[StudyRecord]) -> list[StudyRecord]:
    """The arms' records in creation order (the arms' order when created)."""

    def key(record: StudyRecord) -> tuple[datetime, int, str]:
        arm = arm_of_dict(record.spec)
        return record.created_at, ARMS.index(arm) if arm in ARMS else len(ARMS), record.id

    return sorted(studies, key=key)


def _comparison(row: ComparisonRow, studies: list[StudyRecord]) -> ComparisonRecord:
    arms: dict[str, str] = {}
    for study in _in_order(studies):
        arms.setdefault(arm_of_dict(study.spec), study.id)
    return ComparisonRecord(
        id=row.id, name=row.name, arms=arms, created_at=row.created_at, spec=dict(row.spec),
    )


def _studies(session: Session, ids: list[str]) -> list[StudyRecord]:
    """The study records of comparisons ``ids`` (two queries: rows, then their specs)."""
    rows = session.scalars(select(StudyRow).where(StudyRow.comparison_id.in_(ids))).all()
    return records_of(session, rows)


def insert_comparison(
    session: Session, record: ComparisonRecord, studies: Sequence[StudyRecord]
) -> None:
    """Add a new comparison and its arms' study rows to ``session`` (their Optuna studies
    exist already: ``service.scheduler`` creates them first)."""
    session.add(ComparisonRow(
        id=record.id, name=record.name, spec=record.spec, created_at=record.created_at,
    ))
    session.flush()  # the study rows reference it
    insert_study_records(session, studies)


def get_comparison_record(engine: Engine, id: str) -> ComparisonRecord:
    """The comparison with public id ``id``. Raises :class:`NotFoundError`."""
    with session_scope(engine) as session:
        row = session.get(ComparisonRow, id)
        if row is None:
            raise NotFoundError("comparison", id)
        return _comparison(row, _studies(session, [id]))


def comparison_studies(engine: Engine, record: ComparisonRecord) -> list[StudyRecord]:
    """The study record of every arm of ``record``, in arm order (one query).

    Raises:
        NotFoundError: one of the studies was deleted meanwhile.
    """
    with session_scope(engine) as session:
        rows = {r.id: r for r in _studies(session, [record.id])}
    missing = [sid for sid in record.study_ids if sid not in rows]
    if missing:
        raise NotFoundError("study", missing[0])
    return [rows[sid] for sid in record.study_ids]


def comparisons_studies(
    engine: Engine, records: list[ComparisonRecord]
) -> dict[str, list[StudyRecord]]:
    """:func:`comparison_studies` of a page of comparisons in one query, by comparison id;
    a comparison one of whose studies was deleted meanwhile is left out."""
    with session_scope(engine) as session:
        rows = {r.id: r for r in _studies(session, [c.id for c in records])}
    return {c.id: [rows[sid] for sid in c.study_ids] for c in records
            if all(sid in rows for sid in c.study_ids)}


def count_comparison_records(engine: Engine) -> int:
    """How many comparisons there are."""
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ComparisonRow)) or 0)


def list_comparison_records(
    engine: Engine, *, offset: int = 0, limit: int = 50
) -> list[ComparisonRecord]:
    """One page of comparisons, newest first (the page's study rows in one query)."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(ComparisonRow).order_by(ComparisonRow.created_at.desc(), ComparisonRow.id)
            .offset(offset).limit(limit)
        ).all()
        studies = _studies(session, [r.id for r in rows]) if rows else []
        return [_comparison(r, [s for s in studies if s.comparison_id == r.id]) for r in rows]


def delete_comparison(storage: optuna.storages.BaseStorage, engine: Engine, id: str) -> None:
    """Delete a comparison and every arm's study. Raises :class:`NotFoundError`."""
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
