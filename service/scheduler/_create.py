"""Creating studies and comparisons: their Optuna studies first, then the service's rows.

A study exists for the API and the workers once its ``snk_studies`` row is committed. Its
Optuna study (``studies.sampling.create_study``: sampler, pruner, directions and the spec
as the ``spec`` user attribute, the spec's one stored copy) is created first and deleted
again when anything fails before the row is committed, so a failure never leaves a
half-created study visible.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from sqlalchemy.engine import Engine

from service.storage import (
    ComparisonRecord,
    StudyRecord,
    insert_comparison,
    insert_study_records,
    session_scope,
    utcnow,
)
from studies.arms import plan_comparison
from studies.sampling import create_study
from studies.spec import StudySpec, load_spec

__all__ = ["create_comparison", "create_study_record", "trial_cap_of"]


def _new_id() -> str:
    return secrets.token_hex(6)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "study"


def _as_spec(spec: StudySpec | dict[str, Any]) -> StudySpec:
    return spec if isinstance(spec, StudySpec) else load_spec(spec)


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


def _new_study(spec: StudySpec, storage: optuna.storages.BaseStorage, comparison_id: str | None,
               created: list[str], *, trial_cap: int | None) -> StudyRecord:
    """Create the Optuna study of a new study (its name appended to ``created``) and
    return the record its row will hold."""
    rid = _new_id()
    kind = spec.search.kind
    study_name = f"{_slug(spec.name)}-{kind}-{rid}"
    study = create_study(spec, storage, study_name=study_name)
    created.append(study_name)
    study.set_user_attr("service_id", rid)
    study.set_user_attr("status", "queued")
    if comparison_id is not None:
        study.set_user_attr("comparison_id", comparison_id)
    return StudyRecord(
        id=rid, study_name=study_name, kind=kind, dataset=spec.dataset.name, status="queued",
        n_trials=trial_cap_of(spec, trial_cap), comparison_id=comparison_id,
        created_at=utcnow(), spec=spec.model_dump(mode="json"),
    )


def _undo(storage: optuna.storages.BaseStorage, created: Sequence[str]) -> None:
    for name in created:
        with contextlib.suppress(Exception):
            optuna.delete_study(study_name=name, storage=storage)


def create_study_record(
    storage: optuna.storages.BaseStorage, engine: Engine, spec: StudySpec | dict[str, Any],
    *, trial_cap: int | None = None,
) -> StudyRecord:
    """Create a study: the Optuna study (spec and summary in its user attrs) and its row.

    Args:
        storage: The Optuna storage of ``engine``'s database.
        engine: Engine from ``service.storage.make_engine`` on the same URL.
        spec: A validated ``StudySpec`` or its JSON (validated with ``load_spec``).
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
        record = _new_study(spec, storage, None, created, trial_cap=trial_cap)
        with session_scope(engine) as session:
            insert_study_records(session, [record])
    except BaseException:
        _undo(storage, created)
        raise
    return record


def create_comparison(
    storage: optuna.storages.BaseStorage,
    engine: Engine,
    spec: StudySpec | dict[str, Any],
    arms: list[str] | tuple[str, ...] | None = None,
    *,
    trial_cap: int | None = None,
    plan: Mapping[str, StudySpec] | None = None,
) -> ComparisonRecord:
    """Create one study per arm on one spec, all or nothing.

    Each arm's study runs its spec of ``studies.arms.plan_comparison``: the shared spec
    with only the search kind (and pruner) changed, so every arm shares dataset,
    architecture, training, budget and seed.

    Args:
        storage: The Optuna storage of ``engine``'s database.
        engine: Engine from ``service.storage.make_engine`` on the same URL.
        spec: A validated ``StudySpec`` or its JSON.
        arms: At least two different arms of ``studies.arms.ARMS``, in display order
            (default: ``studies.arms.default_arms``); ignored with ``plan``.
        trial_cap: The server's trial limit, applied to every arm whose spec has no
            ``n_trials`` (:func:`trial_cap_of`).
        plan: Each arm's spec as the caller planned and checked them
            (``studies.arms.plan_comparison``); else planned here.

    Raises:
        ConfigError: the spec is invalid, or ``arms`` is (naming ``arms`` and the allowed
            values), or the spec does not fit an arm; nothing was created.
        StorageUnavailableError: the database failed; nothing was created.
    """
    spec = _as_spec(spec)
    # every arm is checked before anything is written
    specs = dict(plan) if plan is not None else plan_comparison(spec, arms, trial_cap=trial_cap)
    cid = _new_id()
    created: list[str] = []
    try:
        studies = [_new_study(s, storage, cid, created, trial_cap=trial_cap)
                   for s in specs.values()]
        comparison = ComparisonRecord(
            id=cid, name=spec.name,
            arms={arm: study.id for arm, study in zip(specs, studies, strict=True)},
            created_at=utcnow(), spec=spec.model_dump(mode="json"),
        )
        with session_scope(engine) as session:
            insert_comparison(session, comparison, studies)
    except BaseException:
        _undo(storage, created)
        raise
    return comparison
