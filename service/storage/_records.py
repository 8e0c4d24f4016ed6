"""Studies: the service's rows beside their Optuna studies.

A study exists for the API and the workers once its ``snk_studies`` row is
committed; the Optuna study is created first and deleted again if the row cannot
be written, so a failure never leaves a half-created study visible.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import optuna
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from service.errors import ConflictError, NotFoundError
from service.storage._engine import session_scope
from service.storage._schema import StudyRow, utcnow
from studies.spec import StudySpec, load_spec

__all__ = [
    "RUNNABLE_STATUSES",
    "SETTLED_STATUSES",
    "STUDY_STATUSES",
    "StudyRecord",
    "StudyStatus",
    "cancel_study",
    "create_study_record",
    "delete_study",
    "get_study_record",
    "list_study_records",
    "runnable_study_records",
    "set_study_status",
    "trial_cap_of",
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
            :func:`trial_cap_of`.
        comparison_id: The comparison this study belongs to, if any.
        created_at: Naive UTC creation time.
        spec: The study spec as JSON.
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


def _record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        id=row.id, study_name=row.study_name, kind=row.kind, dataset=row.dataset,
        status=row.status, n_trials=row.n_trials, comparison_id=row.comparison_id,
        created_at=row.created_at, spec=dict(row.spec), finished_at=row.finished_at,
        error=row.error,
    )


def _new_id() -> str:
    return secrets.token_hex(6)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "study"


def _as_spec(spec: StudySpec | dict[str, Any]) -> StudySpec:
    return spec if isinstance(spec, StudySpec) else load_spec(spec)


def _with_kind(spec: StudySpec, kind: str) -> StudySpec:
    data = spec.model_dump(mode="json")
    data["search"] = {**data["search"], "kind": kind}
    return load_spec(data)


def trial_cap_of(spec: StudySpec, trial_cap: int | None = None) -> int:
    """The trial cap a study of ``spec`` is stored with (``StudyRecord.n_trials``).

    A spec's ``search.n_trials`` is kept as posted (the API checks it against the server's
    limit). Without one, the compute budget decides and the cap is ``MAX_TRIALS``, lowered
    to ``trial_cap`` (the server's ``max_trials``) when given; the spec itself keeps
    ``n_trials: null``, so it still says what the user asked for.
    """
    if spec.search.n_trials is not None or trial_cap is None:
        return spec.search.trial_budget
    return max(1, min(spec.search.trial_budget, trial_cap))


def _new_row(spec: StudySpec, storage: optuna.storages.BaseStorage, rid: str,
             comparison_id: str | None, created: list[str], *,
             trial_cap: int | None = None) -> StudyRow:
    from studies.execute import create_study

    kind = spec.search.kind
    study_name = f"{_slug(spec.name)}-{kind}-{rid}"
    study = create_study(spec, storage, study_name=study_name)
    created.append(study_name)
    study.set_user_attr("service_id", rid)
    study.set_user_attr("status", "queued")
    if comparison_id is not None:
        study.set_user_attr("comparison_id", comparison_id)
    return StudyRow(
        id=rid, study_name=study_name, kind=kind, dataset=spec.dataset.name, status="queued",
        n_trials=trial_cap_of(spec, trial_cap), comparison_id=comparison_id,
        spec=spec.model_dump(mode="json"), created_at=utcnow(),
    )


def _undo(storage: optuna.storages.BaseStorage, created: list[str]) -> None:
    for name in created:
        with contextlib.suppress(Exception):
            optuna.delete_study(study_name=name, storage=storage)


def create_study_record(
    storage: optuna.storages.BaseStorage, engine: Engine, spec: StudySpec | dict[str, Any],
    *, comparison_id: str | None = None, trial_cap: int | None = None,
) -> StudyRecord:
    """Create the Optuna study (spec and summary in its user attrs) and its row.

    Args:
        storage: The Optuna storage of ``engine``'s database.
        engine: Engine from :func:`make_engine` on the same URL.
        spec: A validated ``StudySpec`` or its JSON (validated with ``load_spec``).
        comparison_id: The comparison this study belongs to.
        trial_cap: The server's trial limit, applied when the spec has no ``n_trials``
            (:func:`trial_cap_of`).

    Returns:
        The new record, status ``queued``.

    Raises:
        ConfigError: the spec JSON is invalid (from ``studies.spec.load_spec``).
        StorageUnavailableError: the database failed; nothing was created.
    """
    spec = _as_spec(spec)
    created: list[str] = []
    try:
        row = _new_row(spec, storage, _new_id(), comparison_id, created, trial_cap=trial_cap)
        with session_scope(engine) as session:
            session.add(row)
    except BaseException:
        _undo(storage, created)
        raise
    return _record(row)


def get_study_record(engine: Engine, id: str) -> StudyRecord:
    """The study with public id ``id``. Raises :class:`NotFoundError` when there is none."""
    with session_scope(engine) as session:
        row = session.get(StudyRow, id)
        if row is None:
            raise NotFoundError("study", id)
        return _record(row)


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
        return [_record(r) for r in rows], int(total)


def runnable_study_records(engine: Engine) -> list[StudyRecord]:
    """Queued and running studies, oldest first (the order workers serve them)."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(StudyRow).where(StudyRow.status.in_(RUNNABLE_STATUSES))
            .order_by(StudyRow.created_at, StudyRow.id)
        ).all()
        return [_record(r) for r in rows]


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
        record = _record(row)
    if storage is not None:
        try:
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
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=study_name, storage=storage)
