"""Comparisons: one study per arm (``studies.arms``) on one spec, created all or nothing.

A comparison row holds the shared spec; each arm is an ordinary study row pointing at it.
The arm of a study is read back from its stored spec (``studies.arms.arm_of``), so rows
written before arms existed (a ``lambda`` and a ``width`` study) read as those two arms.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import optuna
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from service.errors import NotFoundError
from service.storage._engine import session_scope
from service.storage._records import (
    SETTLED_STATUSES,
    StudyRecord,
    _as_spec,
    _new_id,
    _new_row,
    _record,
    _undo,
)
from service.storage._schema import ComparisonRow, StudyRow, utcnow

if TYPE_CHECKING:
    from studies.spec import StudySpec

__all__ = [
    "ComparisonRecord",
    "comparison_status",
    "comparison_studies",
    "comparisons_studies",
    "count_comparison_records",
    "create_comparison",
    "default_arms",
    "delete_comparison",
    "get_comparison_record",
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
        arms: Arm (``lambda``, ``lambda_path``, ``width``, ``width_hyperband``) → study id,
            in the order the arms were created.
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
        """The λ arm's study (``lambda``, else ``lambda_path``); ``""`` when there is none."""
        return self.arms.get("lambda") or self.arms.get("lambda_path") or ""

    @property
    def width_study_id(self) -> str:
        """The plain width-search arm's study; ``""`` when there is none."""
        return self.arms.get("width", "")


def default_arms(spec: StudySpec) -> tuple[str, ...]:
    """The arms of a comparison that names none: a λ path against width search when the
    spec's ``search.kind`` is ``lambda_path``, else ``studies.arms.DEFAULT_ARMS``."""
    from studies.arms import DEFAULT_ARMS

    return ("lambda_path", "width") if spec.search.kind == "lambda_path" else DEFAULT_ARMS


def create_comparison(
    storage: optuna.storages.BaseStorage,
    engine: Engine,
    spec: StudySpec | dict[str, Any],
    arms: list[str] | tuple[str, ...] | None = None,
    *,
    trial_cap: int | None = None,
) -> ComparisonRecord:
    """Create one study per arm on one spec, all or nothing.

    Each arm's study runs ``studies.arms.arm_spec(spec, arm)``: the shared spec with only
    the search kind (and pruner) changed, so every arm shares dataset, architecture,
    training, budget and seed.

    Args:
        storage: The Optuna storage of ``engine``'s database.
        engine: Engine from :func:`make_engine` on the same URL.
        spec: A validated ``StudySpec`` or its JSON.
        arms: At least two different arms of ``studies.arms.ARMS``, in display order
            (default: :func:`default_arms`).
        trial_cap: The server's trial limit, applied to every arm whose spec has no
            ``n_trials`` (``trial_cap_of``).

    Raises:
        ConfigError: the spec is invalid, or ``arms`` is (naming ``arms`` and the allowed
            values), or the spec does not fit an arm; nothing was created.
        StorageUnavailableError: the database failed; nothing was created.
    """
    from studies.arms import arm_spec, check_arms

    spec = _as_spec(spec)
    chosen = check_arms(list(arms)) if arms is not None else default_arms(spec)
    steps = min(20, trial_cap) if trial_cap else 20  # a path's grid obeys the trial limit
    # every arm is checked before anything is written
    specs = {arm: arm_spec(spec, arm, path_steps=steps) for arm in chosen}
    cid = _new_id()
    created: list[str] = []
    try:
        rows = [
            _new_row(s, storage, _new_id(), cid, created, trial_cap=trial_cap)
            for s in specs.values()
        ]
        comparison = ComparisonRow(
            id=cid, name=spec.name, spec=spec.model_dump(mode="json"), created_at=utcnow(),
        )
        with session_scope(engine) as session:
            session.add(comparison)
            session.flush()  # the study rows reference it
            session.add_all(rows)
    except BaseException:
        _undo(storage, created)
        raise
    return ComparisonRecord(
        id=cid, name=comparison.name,
        arms={arm: row.id for arm, row in zip(specs, rows, strict=True)},
        created_at=comparison.created_at, spec=dict(comparison.spec),
    )


def _arm(row: StudyRow) -> str:
    from shrinknets_core.errors import ConfigError
    from studies.arms import arm_of
    from studies.spec import load_spec

    try:
        return arm_of(load_spec(row.spec))
    except ConfigError:  # a spec this version no longer reads: its kind is the best guess
        return row.kind


def _in_order(studies: list[StudyRow]) -> list[StudyRow]:
    """The arms' rows in creation order (the arms' order when created)."""
    from studies.arms import ARMS

    def key(row: StudyRow) -> tuple[datetime, int, str]:
        arm = _arm(row)
        return row.created_at, ARMS.index(arm) if arm in ARMS else len(ARMS), row.id

    return sorted(studies, key=key)


def _comparison(row: ComparisonRow, studies: list[StudyRow]) -> ComparisonRecord:
    arms: dict[str, str] = {}
    for study in _in_order(studies):
        arms.setdefault(_arm(study), study.id)
    return ComparisonRecord(
        id=row.id, name=row.name, arms=arms, created_at=row.created_at, spec=dict(row.spec),
    )


def _study_rows(session: Any, ids: list[str]) -> list[StudyRow]:
    return list(session.scalars(select(StudyRow).where(StudyRow.comparison_id.in_(ids))).all())


def get_comparison_record(engine: Engine, id: str) -> ComparisonRecord:
    """The comparison with public id ``id``. Raises :class:`NotFoundError`."""
    with session_scope(engine) as session:
        row = session.get(ComparisonRow, id)
        if row is None:
            raise NotFoundError("comparison", id)
        return _comparison(row, _study_rows(session, [id]))


def comparison_studies(engine: Engine, record: ComparisonRecord) -> list[StudyRecord]:
    """The study record of every arm of ``record``, in arm order (one query).

    Raises:
        NotFoundError: one of the studies was deleted meanwhile.
    """
    with session_scope(engine) as session:
        rows = {r.id: _record(r) for r in _study_rows(session, [record.id])}
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
        rows = {r.id: _record(r) for r in _study_rows(session, [c.id for c in records])}
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
        studies = _study_rows(session, [r.id for r in rows]) if rows else []
        return [_comparison(r, [s for s in studies if s.comparison_id == r.id]) for r in rows]


def delete_comparison(storage: optuna.storages.BaseStorage, engine: Engine, id: str) -> None:
    """Delete a comparison and every arm's study. Raises :class:`NotFoundError`."""
    with session_scope(engine) as session:
        row = session.get(ComparisonRow, id)
        if row is None:
            raise NotFoundError("comparison", id)
        studies = _study_rows(session, [id])
        names = [s.study_name for s in studies]
        for s in studies:
            session.delete(s)
        session.flush()
        session.delete(row)
    for name in names:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
