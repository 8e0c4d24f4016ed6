"""Trial counts per state, read with one GROUP BY instead of loading every trial."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.storages._rdb import models as optuna_models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.errors import StorageUnavailableError

if TYPE_CHECKING:
    from service.storage._records import StudyRecord

__all__ = ["Progress", "studies_progress", "study_progress", "trial_state_counts"]


@dataclass(frozen=True)
class Progress:
    """How far a study is.

    Attributes:
        complete: Trials finished with values.
        running: Trials being trained now.
        failed: Failed trials (crashes, cancellations); they do not use up budget.
        pruned: Pruned trials (they use up budget).
        waiting: Retries enqueued after a failure, not yet picked up.
        budget: The study's ``n_trials``.
    """

    complete: int
    running: int
    failed: int
    pruned: int
    budget: int
    waiting: int = 0

    @property
    def done(self) -> int:
        """Trials that count as finished against the budget."""
        return self.complete + self.pruned

    @property
    def fraction(self) -> float:
        """``done / budget`` in [0, 1]."""
        return min(1.0, self.done / self.budget) if self.budget else 1.0

    @classmethod
    def from_counts(cls, counts: Mapping[TrialState, int], budget: int) -> Progress:
        """The progress given trial counts per state (absent states: 0)."""
        return cls(
            complete=counts.get(TrialState.COMPLETE, 0), running=counts.get(TrialState.RUNNING, 0),
            failed=counts.get(TrialState.FAIL, 0), pruned=counts.get(TrialState.PRUNED, 0),
            waiting=counts.get(TrialState.WAITING, 0), budget=budget,
        )

    @classmethod
    def of_trials(cls, trials: Iterable[FrozenTrial], budget: int) -> Progress:
        """The progress of a study whose trials are ``trials`` (already read)."""
        return cls.from_counts(Counter(t.state for t in trials), budget)

    def to_dict(self) -> dict[str, int | float]:
        return {**asdict(self), "done": self.done, "fraction": self.fraction}


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

    A study whose Optuna study was deleted is left out of the answer.
    """
    names = {r.study_name: r for r in records}
    if not names:
        return {}
    study, trial = optuna_models.StudyModel, optuna_models.TrialModel
    try:
        with Session(storage.engine) as session:
            rows = session.execute(
                select(study.study_name, trial.state, func.count(trial.trial_id))
                .outerjoin(trial, trial.study_id == study.study_id)
                .where(study.study_name.in_(names))
                .group_by(study.study_name, trial.state)
            ).all()
    except SQLAlchemyError as e:
        raise StorageUnavailableError(f"cannot count trials: {e}") from e
    counts: dict[str, Counter[TrialState]] = {}
    for name, state, n in rows:
        found = counts.setdefault(name, Counter())
        if state is not None:
            found[_state(state)] += int(n)
    return {
        names[name].id: Progress.from_counts(found, names[name].n_trials)
        for name, found in counts.items()
    }
