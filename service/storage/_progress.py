"""Trial counts per state, read with one GROUP BY instead of loading every trial; and what
a study with a compute budget has spent, read from the few user attributes that say so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.errors import StorageUnavailableError
from service.storage._optuna_private import optuna_models
from studies.spec import PATH_KINDS, load_spec

if TYPE_CHECKING:
    from service.storage._records import StudyRecord
    from studies.budget import Spent

__all__ = [
    "Progress",
    "compute_limits",
    "studies_progress",
    "study_progress",
    "study_spending",
    "trial_state_counts",
    "waiting_trial_ids",
]

_CHARGED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
_COST_KEYS = ("search_cost_macs", "search_wall_time_s")


@dataclass(frozen=True)
class Progress:
    """How far a study is.

    Attributes:
        complete: Trials finished with values.
        running: Trials being trained now.
        failed: Failed trials (crashes, cancellations); they do not use up budget.
        pruned: Pruned trials (they use up budget).
        waiting: Retries enqueued after a failure, not yet picked up.
        budget: The study's trial cap (``StudyRecord.n_trials``).
        spent_macs, spent_seconds: What the search has spent (``studies.budget.spent``:
            finished trials in full, running ones so far); None without a compute budget.
        max_macs, max_seconds: The spec's compute budgets (None when not set).
        overshoot_macs: MACs spent beyond ``max_macs`` by trials that were already running
            when it ran out (0 while under it; None without ``max_macs``).
        trials_bound: False when the trial count does not bound the study (a λ path that
            goes on past its grid until its compute budget is spent): then only the
            compute says how far it is.
    """

    complete: int
    running: int
    failed: int
    pruned: int
    budget: int
    waiting: int = 0
    spent_macs: float | None = None
    spent_seconds: float | None = None
    max_macs: float | None = None
    max_seconds: float | None = None
    overshoot_macs: float | None = None
    trials_bound: bool = True

    @property
    def done(self) -> int:
        """Trials that count as finished against the budget."""
        return self.complete + self.pruned

    @property
    def fraction(self) -> float:
        """How much of the budget is used, in [0, 1]: ``done / budget``, or with a compute
        budget the largest of that, ``spent_macs / max_macs`` and ``spent_seconds /
        max_seconds`` (whichever runs out first ends the study)."""
        shares = [self.done / self.budget if self.budget else 1.0] if self.trials_bound else []
        if self.max_macs and self.spent_macs is not None:
            shares.append(self.spent_macs / self.max_macs)
        if self.max_seconds and self.spent_seconds is not None:
            shares.append(self.spent_seconds / self.max_seconds)
        return min(1.0, max(shares, default=0.0))

    @classmethod
    def from_counts(cls, counts: Mapping[TrialState, int], budget: int) -> Progress:
        """The progress given trial counts per state (absent states: 0)."""
        return cls(
            complete=counts.get(TrialState.COMPLETE, 0), running=counts.get(TrialState.RUNNING, 0),
            failed=counts.get(TrialState.FAIL, 0), pruned=counts.get(TrialState.PRUNED, 0),
            waiting=counts.get(TrialState.WAITING, 0), budget=budget,
        )

    @classmethod
    def of_trials(
        cls, trials: Iterable[FrozenTrial], budget: int, *, spec: Mapping[str, Any] | None = None
    ) -> Progress:
        """The progress of a study whose trials are ``trials`` (already read).

        Args:
            spec: The study's stored spec (JSON); with a compute budget, the spending is
                added (see :meth:`with_spending`).
        """
        trials = list(trials)
        progress = cls.from_counts(Counter(t.state for t in trials), budget)
        max_macs, max_seconds = compute_limits(spec or {})
        if max_macs is None and max_seconds is None:
            return progress
        from studies.budget import spent

        return progress.with_spending(spent(trials), max_macs, max_seconds,
                                      trials_bound=trials_bound(spec or {}))

    def with_spending(
        self, used: Spent, max_macs: float | None, max_seconds: float | None,
        *, trials_bound: bool = True,
    ) -> Progress:
        """This progress with the compute spent against the budgets ``max_macs``/``max_seconds``
        (``trials_bound``: see the attribute; :func:`trials_bound`)."""
        overshoot = None if max_macs is None else max(used.macs - max_macs, 0.0)
        return replace(self, spent_macs=used.macs, spent_seconds=used.seconds,
                       max_macs=max_macs, max_seconds=max_seconds, overshoot_macs=overshoot,
                       trials_bound=trials_bound)

    def to_dict(self) -> dict[str, int | float | None]:
        return {**asdict(self), "done": self.done, "fraction": self.fraction}


def compute_limits(spec: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``(max_macs, max_seconds)`` of a stored spec (JSON); ``(None, None)`` without a
    compute budget. Read from the JSON directly: no spec validation per study listed."""
    search = spec.get("search") or {}
    max_macs, max_seconds = search.get("max_macs"), search.get("max_seconds")
    return (None if max_macs is None else float(max_macs),
            None if max_seconds is None else float(max_seconds))


def trials_bound(spec: Mapping[str, Any]) -> bool:
    """False for a stored spec (JSON) whose study is not bounded by its trial count: a λ
    path that goes on past its grid (``StudySpec.path_refines``) until its compute budget
    is spent, which then says how far it is. Only a path's spec is parsed; the listing of
    other studies reads no spec."""
    if (spec.get("search") or {}).get("kind") not in PATH_KINDS:
        return True
    parsed = load_spec(dict(spec))
    return not (parsed.path_refines and parsed.search.compute_budget)


def _state(value: TrialState | int) -> TrialState:
    return value if isinstance(value, TrialState) else TrialState(value)


def trial_state_counts(storage: optuna.storages.RDBStorage, study_id: int) -> dict[TrialState, int]:
    """Number of trials of Optuna study ``study_id`` in each state (absent states: 0)."""
    try:
        with Session(storage.engine) as session:
            rows = session.execute(
                select(optuna_models.TrialModel.state, func.count())
                .where(optuna_models.TrialModel.study_id == study_id)
                .group_by(optuna_models.TrialModel.state)
            ).all()
    except SQLAlchemyError as e:
        raise StorageUnavailableError(f"cannot count trials: {e}") from e
    counts = dict.fromkeys(TrialState, 0)
    for state, n in rows:
        counts[_state(state)] = int(n)
    return counts


def waiting_trial_ids(storage: optuna.storages.RDBStorage, study_id: int) -> list[int]:
    """The WAITING trials (enqueued retries) of Optuna study ``study_id``, oldest first: the
    order ``study.ask()`` pops them in, read by one indexed query instead of every trial."""
    query = (
        select(optuna_models.TrialModel.trial_id)
        .where(optuna_models.TrialModel.study_id == study_id,
               optuna_models.TrialModel.state == TrialState.WAITING)
        .order_by(optuna_models.TrialModel.trial_id)
    )
    try:
        with Session(storage.engine) as session:
            return [int(tid) for tid in session.scalars(query)]
    except SQLAlchemyError as e:
        raise StorageUnavailableError(f"cannot read waiting trials: {e}") from e


def _read_spending(session: Session, study_ids: Collection[int]) -> dict[int, Spent]:
    """What each study has spent (``studies.budget.spent``), from its trials' cost attributes.

    Reads only the charged trials' states and ``search_cost_macs``/``search_wall_time_s``
    attributes, plus the per-epoch ``history`` of the trials without a total (running
    trials, trials failed by a lost heartbeat or a crash): no params, values or histories
    of finished trials.
    """
    from studies.budget import spent

    # Optuna's private table models (``optuna.storages._rdb.models``): the public API reads
    # whole trials; a claim needs only two attributes of each, under the study's lock.
    trial, attr = optuna_models.TrialModel, optuna_models.TrialUserAttributeModel
    charged = (trial.study_id.in_(study_ids), trial.state.in_(_CHARGED))
    found: dict[int, tuple[int, TrialState, dict[str, Any]]] = {}
    for study_id, trial_id, state, key, value in session.execute(
        select(trial.study_id, trial.trial_id, trial.state, attr.key, attr.value_json)
        .outerjoin(attr, (attr.trial_id == trial.trial_id) & attr.key.in_(_COST_KEYS))
        .where(*charged)
    ):
        attrs = found.setdefault(trial_id, (study_id, _state(state), {}))[2]
        if key is not None:
            attrs[key] = json.loads(value)
    has_total = exists().where(  # correlated: read through the (trial_id, key) index
        attr.trial_id == trial.trial_id, attr.key == "search_cost_macs"
    )
    need_history = select(trial.trial_id).where(
        *charged, or_(trial.state == TrialState.RUNNING, ~has_total)
    )
    for trial_id, value in session.execute(
        select(attr.trial_id, attr.value_json)
        .where(attr.key == "history", attr.trial_id.in_(need_history))
    ):
        found[trial_id][2]["history"] = json.loads(value)
    per_study: dict[int, list[FrozenTrial]] = {sid: [] for sid in study_ids}
    for trial_id, (study_id, state, attrs) in found.items():
        # only state and user_attrs are read by studies.budget
        per_study[study_id].append(FrozenTrial(
            number=0, state=state, value=None, datetime_start=None, datetime_complete=None,
            params={}, distributions={}, user_attrs=attrs, system_attrs={},
            intermediate_values={}, trial_id=trial_id,
        ))
    return {sid: spent(trials) for sid, trials in per_study.items()}


def study_spending(storage: optuna.storages.RDBStorage, study_id: int) -> Spent:
    """What Optuna study ``study_id`` has spent so far (``studies.budget.spent``): finished
    trials in full, RUNNING trials the epochs they reported. Read fresh from the database
    (the claim reads it under the study's lock)."""
    try:
        with Session(storage.engine) as session:
            return _read_spending(session, [study_id])[study_id]
    except SQLAlchemyError as e:
        raise StorageUnavailableError(f"cannot read the compute spent: {e}") from e


def study_progress(storage: optuna.storages.RDBStorage, record: StudyRecord) -> Progress:
    """The trial counts of ``record``'s Optuna study against its budget.

    Raises:
        NotFoundError: the Optuna study was deleted.
    """
    from service.errors import NotFoundError

    progress = studies_progress(storage, [record]).get(record.id)
    if progress is None:
        raise NotFoundError("study", record.id)
    return progress


def studies_progress(
    storage: optuna.storages.RDBStorage, records: Sequence[StudyRecord]
) -> dict[str, Progress]:
    """The progress of several studies with one query, keyed by public id.

    Studies with a compute budget also get their spending, read with two more queries for
    all of them (:func:`_read_spending`; studies without one cost nothing more). A study
    whose Optuna study was deleted is left out of the answer.
    """
    names = {r.study_name: r for r in records}
    if not names:
        return {}
    study, trial = optuna_models.StudyModel, optuna_models.TrialModel
    limits = {name: compute_limits(r.spec) for name, r in names.items()}
    try:
        with Session(storage.engine) as session:
            rows = session.execute(
                select(study.study_name, study.study_id, trial.state, func.count(trial.trial_id))
                .outerjoin(trial, trial.study_id == study.study_id)
                .where(study.study_name.in_(names))
                .group_by(study.study_name, study.study_id, trial.state)
            ).all()
            ids = {name: sid for name, sid, _state_, _n in rows}
            budgeted = [ids[n] for n in ids if limits[n] != (None, None)]
            spending = _read_spending(session, budgeted) if budgeted else {}
    except SQLAlchemyError as e:
        raise StorageUnavailableError(f"cannot count trials: {e}") from e
    counts: dict[str, Counter[TrialState]] = {}
    for name, _sid, state, n in rows:
        found = counts.setdefault(name, Counter())
        if state is not None:
            found[_state(state)] += int(n)
    answer = {}
    for name, found in counts.items():
        progress = Progress.from_counts(found, names[name].n_trials)
        used = spending.get(ids[name])
        if used is not None:
            progress = progress.with_spending(used, *limits[name],
                                              trials_bound=trials_bound(names[name].spec))
        answer[names[name].id] = progress
    return answer
