"""Studies: the service's rows beside their Optuna studies.

A study exists for the API and the workers once its ``snk_studies`` row is
committed; ``service.scheduler`` creates the Optuna study first and deletes it again
if the row cannot be written, so a failure never leaves a half-created study visible.

The spec has one stored copy: the Optuna study's ``spec`` user attribute (written by
``studies.execute.create_study``, readable with ``optuna studies``). A record's spec is
read from there, a page of records in one query; the row keeps the service's state
(status, trial cap, comparison, owner) and ``kind``/``dataset`` as indexed filters.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import optuna
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.errors import ConflictError, NotFoundError
from service.storage._engine import session_scope
from service.storage._optuna_private import optuna_models
from service.storage._schema import StudyRow, utcnow
from studies.spec import StudySpec, load_spec

__all__ = [
    "RUNNABLE_STATUSES",
    "SETTLED_STATUSES",
    "STUDY_STATUSES",
    "StudyRecord",
    "StudyStatus",
    "cancel_study",
    "delete_study",
    "get_study_record",
    "insert_study_records",
    "last_failure",
    "list_study_records",
    "records_of",
    "runnable_study_records",
    "set_study_status",
    "spec_attrs",
    "study_status",
]

_log = logging.getLogger(__name__)

StudyStatus = Literal["queued", "running", "finished", "failed", "cancelled"]
"""A study's status: ``queued`` → ``running`` → ``finished`` (at least one complete trial)
or ``failed`` (it ended without one); or ``cancelled`` by a user."""
STUDY_STATUSES: tuple[str, ...] = get_args(StudyStatus)
RUNNABLE_STATUSES: tuple[str, ...] = ("queued", "running")
"""The statuses in which workers start trials of a study."""
SETTLED_STATUSES: tuple[str, ...] = ("finished", "failed", "cancelled")
"""The statuses a study never leaves."""


@dataclass(frozen=True)
class StudyRecord:
    """A study as the service sees it.

    Attributes:
        id: Public id used in URLs (12 hex digits).
        study_name: The Optuna study name (``<spec name>-<kind>-<id>``), readable in
            ``optuna studies --storage URL``.
        kind: ``lambda``, ``width``, ``lambda_path`` or ``target_size``.
        dataset: Dataset name of the spec.
        status: ``queued`` → ``running`` → ``finished`` or ``failed``; or ``cancelled``
            (:data:`StudyStatus`).
        n_trials: The exact trial cap: the spec's ``search.n_trials``, or without one
            (a compute budget decides) ``min(MAX_TRIALS, trial_cap)``, see
            ``service.scheduler.trial_cap_of``.
        comparison_id: The comparison this study belongs to, if any.
        created_at: Naive UTC creation time.
        spec: The study spec as JSON (the Optuna study's ``spec`` user attribute).
        finished_at: When the budget was reached (naive UTC), else None.
        error: Why the study stopped early (e.g. every trial failing), else None.
    """

    id: str
    study_name: str
    kind: str
    dataset: str
    status: str
    n_trials: int
    comparison_id: str | None
    created_at: datetime
    spec: dict[str, Any] = field(repr=False)
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def study_spec(self) -> StudySpec:
        """:attr:`spec` parsed, once per process and study (a study's spec never changes
        after creation; the last :data:`_SPEC_CACHE_SIZE` studies are kept)."""
        parsed = _parsed_specs.get(self.id)
        if parsed is None:
            parsed = load_spec(self.spec)
            if len(_parsed_specs) >= _SPEC_CACHE_SIZE:
                _parsed_specs.pop(next(iter(_parsed_specs)), None)
            _parsed_specs[self.id] = parsed
        return parsed


_SPEC_CACHE_SIZE = 1024
_parsed_specs: dict[str, StudySpec] = {}


#: The stored spec text of each study read so far, by public id (the last
#: :data:`_SPEC_CACHE_SIZE`): a spec never changes after creation, so a record read
#: again costs one query (its row) instead of two.
_spec_texts: dict[str, str] = {}


def spec_attrs(session: Session, study_names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The ``spec`` user attribute of each named Optuna study, in one query (a study
    without one, or deleted meanwhile, is left out)."""
    return {name: json.loads(text) for name, text in _spec_texts_of(session, study_names).items()}


def _spec_texts_of(session: Session, study_names: Iterable[str]) -> dict[str, str]:
    names = list(study_names)
    if not names:
        return {}
    study, attr = optuna_models.StudyModel, optuna_models.StudyUserAttributeModel
    rows = session.execute(
        select(study.study_name, attr.value_json)
        .join(attr, attr.study_id == study.study_id)
        .where(study.study_name.in_(names), attr.key == "spec")
    )
    return {name: value for name, value in rows}


def study_status(engine: Engine, id: str) -> str | None:
    """A study's current status, read from its row (``None`` when it was deleted): the
    authoritative one (the Optuna attribute ``status`` mirrors it for the ``optuna`` CLI).

    Raises:
        sqlalchemy.exc.OperationalError: and other driver errors, database down.
    """
    with engine.connect() as conn:
        status = conn.execute(select(StudyRow.status).where(StudyRow.id == id)).scalar()
    return None if status is None else str(status)


def _record(row: StudyRow, spec: dict[str, Any]) -> StudyRecord:
    return StudyRecord(
        id=row.id, study_name=row.study_name, kind=row.kind, dataset=row.dataset,
        status=row.status, n_trials=row.n_trials, comparison_id=row.comparison_id,
        created_at=row.created_at, spec=spec, finished_at=row.finished_at,
        error=row.error,
    )


def records_of(session: Session, rows: Sequence[StudyRow]) -> list[StudyRecord]:
    """The records of ``rows`` with their specs (one query for the specs not read before:
    :data:`_spec_texts`); a row whose Optuna study is gone before its spec was first read
    (being deleted: its row goes first) is left out."""
    missing = [r for r in rows if r.id not in _spec_texts]
    texts = _spec_texts_of(session, [r.study_name for r in missing])
    for r in missing:
        if r.study_name in texts:
            if len(_spec_texts) >= _SPEC_CACHE_SIZE:
                _spec_texts.pop(next(iter(_spec_texts)), None)
            _spec_texts[r.id] = texts[r.study_name]
    # each record gets its own dict: callers may change what they are given
    return [_record(r, json.loads(_spec_texts[r.id])) for r in rows if r.id in _spec_texts]


def _one_record(session: Session, row: StudyRow | None, id: str) -> StudyRecord:
    records = records_of(session, [row]) if row is not None else []
    if not records:
        raise NotFoundError("study", id)
    return records[0]


def insert_study_records(session: Session, records: Sequence[StudyRecord]) -> None:
    """Add the rows of new studies to ``session`` (their Optuna studies, which hold the
    specs, exist already: ``service.scheduler`` creates them first)."""
    session.add_all([
        StudyRow(
            id=r.id, study_name=r.study_name, kind=r.kind, dataset=r.dataset,
            status=r.status, n_trials=r.n_trials, comparison_id=r.comparison_id,
            created_at=r.created_at,
        )
        for r in records
    ])


def get_study_record(engine: Engine, id: str) -> StudyRecord:
    """The study with public id ``id``. Raises :class:`NotFoundError` when there is none."""
    with session_scope(engine) as session:
        return _one_record(session, session.get(StudyRow, id), id)


def list_study_records(
    engine: Engine, *, status: str | None = None, kind: str | None = None,
    offset: int = 0, limit: int = 50,
) -> tuple[list[StudyRecord], int]:
    """One page of studies, newest first, and the total matching the filters."""
    query = select(StudyRow)
    if status is not None:
        query = query.where(StudyRow.status == status)
    if kind is not None:
        query = query.where(StudyRow.kind == kind)
    with session_scope(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(StudyRow.created_at.desc(), StudyRow.id).offset(offset).limit(limit)
        ).all()
        return records_of(session, rows), int(total)


def runnable_study_records(engine: Engine) -> list[StudyRecord]:
    """Queued and running studies, oldest first (the order workers serve them)."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(StudyRow).where(StudyRow.status.in_(RUNNABLE_STATUSES))
            .order_by(StudyRow.created_at, StudyRow.id)
        ).all()
        return records_of(session, rows)


def set_study_status(
    storage: optuna.storages.BaseStorage | None, engine: Engine, id: str, status: str,
    *, error: str | None = None,
) -> StudyRecord:
    """Move a study to ``status`` (a settled study keeps its status).

    ``finished`` becomes ``failed`` when the study ended without one complete trial
    (read from ``storage``; without a storage the status is taken as given); its error,
    unless given, then names the last trial failure. Also mirrors
    the status into the Optuna study's ``status`` user attr so ``optuna studies`` shows
    it. Raises :class:`NotFoundError`.
    """
    if status not in STUDY_STATUSES:
        raise ValueError(f"status={status!r} is not one of {STUDY_STATUSES}")
    study_id: int | None = None  # the Optuna study's, looked up once
    if status == "finished" and storage is not None:
        study_id = _optuna_study_id(storage, engine, id)  # None when gone: nothing known
        complete = optuna.trial.TrialState.COMPLETE
        if study_id is not None and storage.get_n_trials(study_id, state=complete) == 0:
            status = "failed"
            if error is None:
                error = f"no trial completed; the last failure: {last_failure(storage, study_id)}"
    with session_scope(engine) as session:
        row = session.get(StudyRow, id, with_for_update=True)
        if row is None:
            raise NotFoundError("study", id)
        if row.status not in SETTLED_STATUSES and row.status != status:
            row.status = status
            if status in SETTLED_STATUSES:
                row.finished_at = utcnow()
            if error is not None:
                row.error = error
        specs = spec_attrs(session, [row.study_name])  # {} when the Optuna study is gone
        record = _record(row, specs.get(row.study_name, {}))
    if storage is not None:
        try:
            if study_id is None:
                study_id = storage.get_study_id_from_name(record.study_name)
            storage.set_study_user_attr(study_id, "status", record.status)
        except KeyError:
            _log.warning("Optuna study %s is gone; status kept in snk_studies only",
                         record.study_name)
    return record


def _optuna_study_id(
    storage: optuna.storages.BaseStorage, engine: Engine, id: str
) -> int | None:
    """The Optuna study id of study ``id`` (None when either is gone)."""
    with session_scope(engine) as session:
        name = session.scalar(select(StudyRow.study_name).where(StudyRow.id == id))
    try:
        return storage.get_study_id_from_name(name) if name is not None else None
    except KeyError:
        return None


def last_failure(storage: optuna.storages.BaseStorage, study_id: int) -> str:
    """The ``failure_reason`` of Optuna study ``study_id``'s last failed trial."""
    fail = optuna.trial.TrialState.FAIL
    failed = storage.get_all_trials(study_id, deepcopy=False, states=(fail,))
    reasons = [t.user_attrs.get("failure_reason") for t in failed]
    return next((str(r) for r in reversed(reasons) if r), "no reason recorded")


def cancel_study(
    engine: Engine, id: str, *, storage: optuna.storages.BaseStorage | None = None
) -> StudyRecord:
    """Cancel a queued or running study: no new trial starts, running ones stop at
    their next epoch. Cancelling a finished or cancelled study changes nothing.

    Args:
        storage: When given, the Optuna study's ``status`` attr is updated at once
            (otherwise the worker that stops the running trial updates it).

    Raises:
        NotFoundError: no study has this id.
    """
    return set_study_status(storage, engine, id, "cancelled")


def delete_study(storage: optuna.storages.BaseStorage, engine: Engine, id: str) -> None:
    """Delete a study: its row first (it vanishes for API and workers), then the Optuna study.

    Raises:
        NotFoundError: no study has this id.
        ConflictError: the study belongs to a comparison (delete the comparison instead).
    """
    with session_scope(engine) as session:
        row = session.get(StudyRow, id)
        if row is None:
            raise NotFoundError("study", id)
        if row.comparison_id is not None:
            raise ConflictError(
                f"study {id!r} belongs to comparison {row.comparison_id!r}; delete the "
                "comparison to delete both of its studies"
            )
        study_name = row.study_name
        session.delete(row)
    _spec_texts.pop(id, None)
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=study_name, storage=storage)
