"""Trial writes that ride out a short storage outage instead of losing the training.

A trial writes to its Optuna storage after every epoch (its ``history``, the intermediate
value the pruner reads) and once at the end (its results, then ``tell``). Without a
:class:`Patience`, a write that fails raises and the training it described is lost. With
one (the service's workers pass theirs, ``service.worker``):

- a per-epoch write that fails with a *transient* error (the database refuses or drops
  connections: ``Patience.transient`` says which) is kept in memory, and training goes on;
  every later epoch first writes what is kept, oldest first. Writes are idempotent (an
  attribute is set to its latest value, an intermediate value to the same number), so a
  write whose connection dropped after it committed is simply written again;
- the pruner is not asked while reports are kept (it would judge on missing values);
- the final writes wait for the storage (:meth:`Patience.call`): retried with a growing
  pause for at most ``Patience.wait_s`` — the heartbeat grace period in a worker, after
  which another worker has failed the trial anyway — then the last error is raised.

A write that fails for any other reason (a finished trial, a bad value) raises at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import optuna

__all__ = ["Patience", "TrialWriter"]

_log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Patience:
    """How long, and on which errors, storage writes wait instead of failing.

    Attributes:
        transient: Whether an exception means "the storage is unreachable for now".
        wait_s: The longest a blocking write (:meth:`call`) keeps retrying.
        first_pause_s: The first pause between retries; each pause doubles, up to
            ``max_pause_s``.
        max_pause_s: The longest pause between two retries.
        on_recovered: Called once a write succeeds after transient failures (a worker
            records its heartbeats again at once).
    """

    transient: Callable[[BaseException], bool]
    wait_s: float = 60.0
    first_pause_s: float = 0.25
    max_pause_s: float = 4.0
    on_recovered: Callable[[], None] | None = None

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried while it fails transiently, for ``wait_s`` at most.

        Raises:
            Exception: what ``fn`` raised, when it is not transient or ``wait_s`` is spent.
        """
        deadline = time.monotonic() + self.wait_s
        pause = self.first_pause_s
        failures = 0
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                if not self.transient(e) or time.monotonic() + pause > deadline:
                    raise
                if failures == 0:
                    _log.warning("storage unreachable (%s); retrying for up to %.0f s",
                                 type(e).__name__, self.wait_s)
                failures += 1
                time.sleep(pause)
                pause = min(2 * pause, self.max_pause_s)
                continue
            if failures:
                _log.warning("storage reachable again after %d retries", failures)
                self.recovered()
            return result

    def recovered(self) -> None:
        """Run ``on_recovered`` (its own failure is only logged)."""
        if self.on_recovered is None:
            return
        try:
            self.on_recovered()
        except Exception as e:
            _log.warning("after the storage came back: %s", e)


class TrialWriter:
    """A RUNNING trial's per-epoch writes, kept in memory while the storage is away.

    Args:
        trial: The trial written to.
        patience: Which errors are transient and how long :meth:`settle` waits; ``None``
            writes straight through (every failure raises).
    """

    def __init__(self, trial: optuna.Trial, patience: Patience | None) -> None:
        self.trial = trial
        self.patience = patience
        self._kept: dict[tuple[str, Any], Any] = {}
        self._failing = False

    @property
    def kept(self) -> int:
        """How many writes wait for the storage."""
        return len(self._kept)

    def set_attr(self, key: str, value: Any) -> None:
        """Set a user attribute now, or keep it for later when the storage is away."""
        self._kept.pop(("attr", key), None)  # the latest value goes last
        self._kept[("attr", key)] = value
        self._flush()

    def report(self, value: float, step: int) -> None:
        """``trial.report(value, step)`` now, or later when the storage is away."""
        self._kept[("report", step)] = value
        self._flush()

    def should_prune(self) -> bool:
        """``trial.should_prune()``; False while reports are kept or the storage is away."""
        if self._kept:
            return False
        try:
            return self.trial.should_prune()
        except Exception as e:
            if self.patience is None or not self.patience.transient(e):
                raise
            return False

    def settle(self) -> None:
        """Write everything kept, waiting for the storage (``Patience.call``).

        Raises:
            Exception: the last write error, when the storage stayed away too long.
        """
        if self.patience is None:
            self._write_all()
        else:
            self.patience.call(self._write_all)

    def _write_all(self) -> None:
        for (kind, key), value in list(self._kept.items()):
            if kind == "attr":
                self.trial.set_user_attr(key, value)
            else:
                self.trial.report(value, key)
            del self._kept[(kind, key)]
        if self._failing:
            self._failing = False
            _log.warning("trial %d: kept writes stored", self.trial.number)
            if self.patience is not None:
                self.patience.recovered()

    def _flush(self) -> None:
        try:
            self._write_all()
        except Exception as e:
            if self.patience is None or not self.patience.transient(e):
                raise
            if not self._failing:
                _log.warning("trial %d: storage unreachable (%s); training goes on and "
                             "its writes are kept", self.trial.number, type(e).__name__)
            self._failing = True
