"""Trial writes kept through a storage outage (``studies.writes``).

The storage here is Optuna's in-memory storage with a switch that makes its writes fail
the way a refused database connection does; the real outage (PostgreSQL refusing
connections while a worker trains) is ``tests/hardening/test_outage.py``.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from studies.writes import Patience, TrialWriter


class Refused(ConnectionError):
    """What the switchable storage raises while it is 'down'."""


class SwitchableStorage(optuna.storages.InMemoryStorage):
    """In-memory storage whose trial writes and reads fail while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise Refused("connection refused")

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._check()
        super().set_trial_user_attr(trial_id, key, value)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        self._check()
        super().set_trial_intermediate_value(trial_id, step, value)

    def get_trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
        self._check()
        return super().get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Any = None) -> list[optuna.trial.FrozenTrial]:
        self._check()
        return super().get_all_trials(study_id, deepcopy, states)


def transient(e: BaseException) -> bool:
    return isinstance(e, Refused)


@pytest.fixture
def storage() -> SwitchableStorage:
    return SwitchableStorage()


def _trial(storage: SwitchableStorage) -> optuna.Trial:
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.MedianPruner())
    return study.ask()


def test_writes_refused_are_kept_in_order_and_written_when_the_storage_is_back(
    storage: SwitchableStorage,
) -> None:
    trial = _trial(storage)
    writer = TrialWriter(trial, Patience(transient=transient))
    writer.set_attr("history", [1])
    writer.report(0.9, 1)
    storage.down = True
    for epoch in (2, 3, 4):
        writer.set_attr("history", list(range(1, epoch + 1)))
        writer.report(1.0 / epoch, epoch)
        assert not writer.should_prune(), "the pruner is not asked while reports are kept"
    assert writer.kept == 4  # the latest history and three reports
    assert storage.refused >= 3
    storage.down = False
    writer.set_attr("history", [1, 2, 3, 4, 5])
    assert writer.kept == 0
    stored = storage.get_trial(trial._trial_id)
    assert stored.user_attrs["history"] == [1, 2, 3, 4, 5]
    assert stored.intermediate_values == {1: 0.9, 2: 0.5, 3: 1 / 3, 4: 0.25}


def test_settle_waits_for_the_storage_and_reports_the_recovery(
    storage: SwitchableStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = _trial(storage)
    recovered: list[bool] = []
    writer = TrialWriter(trial, Patience(transient=transient, wait_s=60, first_pause_s=0.01,
                                         on_recovered=lambda: recovered.append(True)))
    storage.down = True
    writer.set_attr("result", 42)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # the storage comes back after three pauses
        pauses.append(seconds)
        storage.down = len(pauses) < 3

    monkeypatch.setattr("studies.writes.time.sleep", sleep)
    writer.settle()
    assert storage.get_trial(trial._trial_id).user_attrs["result"] == 42
    assert pauses == [0.01, 0.02, 0.04], "pauses double"
    assert recovered, "the worker is told the storage is back (it beats at once)"


def test_settle_gives_up_after_its_patience(storage: SwitchableStorage) -> None:
    trial = _trial(storage)
    writer = TrialWriter(trial, Patience(transient=transient, wait_s=0.2, first_pause_s=0.05))
    storage.down = True
    writer.set_attr("result", 1)
    with pytest.raises(Refused):
        writer.settle()
    assert writer.kept == 1


def test_other_errors_raise_at_once(storage: SwitchableStorage) -> None:
    trial = _trial(storage)
    writer = TrialWriter(trial, Patience(transient=lambda e: False))
    storage.down = True
    with pytest.raises(Refused):
        writer.set_attr("history", [1])
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a storage outage")

    with pytest.raises(ValueError):
        Patience(transient=transient).call(broken)
    assert calls == [1]


def test_without_patience_every_failure_raises(storage: SwitchableStorage) -> None:
    trial = _trial(storage)
    writer = TrialWriter(trial, None)
    writer.report(0.5, 1)
    storage.down = True
    with pytest.raises(Refused):
        writer.report(0.4, 2)
    with pytest.raises(Refused):
        TrialWriter(trial, None).should_prune()
