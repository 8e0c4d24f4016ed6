"""MO-ASHA: asynchronous successive halving that promotes on the Pareto front.

Optuna prunes single-objective trials only (``Trial.report`` is refused in multi-objective
studies), so a width search with Hyperband prunes on the validation loss alone and leaves
the small-network end of the front empty. Multi-objective ASHA (Schmucker, Donini, Zafar,
Salinas, Archambeau 2021, "Multi-objective asynchronous successive halving"; Syne Tune's
``MOASHA``) keeps ASHA's rungs and replaces "the best 1/η by loss" with "the best 1/η by
non-dominated sorting":

* **Rungs** at ``η^k`` epochs (1, 3, 9 … for η = 3) below the trial's last epoch.
* At a rung, the trial's competitors are every trial of the study (running, complete or
  pruned) that has reached that epoch, itself included, each as (val loss at that epoch,
  live parameters at that epoch). They are **ranked** front by front (non-dominated
  sorting); within a front by an **ε-net** (Clarkson 2005, as Syne Tune's
  ``nondominated_sort``): first the point with the lowest val loss, then repeatedly the
  point farthest from those already ranked, so the ranking covers the front evenly instead
  of favouring one end. Distances are taken after scaling each objective to [0, 1] over
  the rung (the parameter count on a log scale), so neither objective's units decide.
* The trial goes on when its rank is among the first ``max(1, n // η)`` of the ``n``
  competitors (Optuna's successive-halving rule: while fewer than η trials reached the
  rung, only the first-ranked one goes on); else it is pruned there.

It is asynchronous like Optuna's ``SuccessiveHalvingPruner``: a trial is judged against
those that reached the rung before it, never waits for others. A pruned trial is told
``PRUNED``, is charged the epochs it trained, is drawn hollow and is never on a front.
When the storage cannot be read at a rung (an outage), the trial goes on: its work is
kept, and the next rung decides.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from shrinknets_core.errors import StopTraining
from shrinknets_core.training.trainer import EpochRecord

__all__ = ["MoAshaCheck", "Point", "mo_rank", "promoted", "rung_epochs"]

_log = logging.getLogger(__name__)

Point = tuple[float, float]
"""(val loss, parameters) of one trial at one rung."""


def rung_epochs(eta: int, epochs: int) -> list[int]:
    """The rungs of a trial that trains ``epochs`` epochs: ``η^k`` for ``k = 0, 1, …``
    below ``epochs`` (its last epoch is its result, not a rung)."""
    out, r = [], 1
    while r < epochs:
        out.append(r)
        r *= eta
    return out


def _dominates(a: Point, b: Point) -> bool:
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def _scaled(points: Sequence[Point]) -> list[tuple[float, float]]:
    """Each objective scaled to [0, 1] over ``points`` (parameters on a log scale)."""
    if not points:
        return []
    scaled = []
    for col in ([p[0] for p in points], [math.log(max(p[1], 1.0)) for p in points]):
        lo, hi = min(col), max(col)
        scaled.append([(x - lo) / (hi - lo) if hi > lo else 0.0 for x in col])
    return list(zip(scaled[0], scaled[1], strict=True))


def _eps_net(front: list[int], scaled: dict[int, tuple[float, float]],
             points: Sequence[Point]) -> list[int]:
    """``front``'s indices in ε-net order: the lowest val loss (then fewest parameters,
    then lowest index) first, then always the one farthest from those chosen (ties:
    lowest index)."""
    first = min(front, key=lambda i: (points[i][0], points[i][1], i))
    order = [first]
    # each point's distance to the nearest one ranked so far, updated as points are ranked
    gap = {i: math.dist(scaled[i], scaled[first]) for i in front if i != first}
    while gap:
        nxt = max(gap, key=lambda i: (gap[i], -i))
        order.append(nxt)
        del gap[nxt]
        for i in gap:
            gap[i] = min(gap[i], math.dist(scaled[i], scaled[nxt]))
    return order


def mo_rank(points: Sequence[Point]) -> list[int]:
    """The indices of ``points`` best first: non-dominated sorting, ε-net within a front
    (module docstring). A point with a non-finite loss goes last."""
    finite = [i for i, p in enumerate(points) if math.isfinite(p[0])]
    scaled = dict(zip(finite, _scaled([points[i] for i in finite]), strict=True))
    left, order = list(finite), []
    while left:
        front = [i for i in left if not any(_dominates(points[j], points[i]) for j in left)]
        order += _eps_net(front, scaled, points)
        left = [i for i in left if i not in front]
    return order + [i for i in range(len(points)) if i not in scaled]


def promoted(own: Point, others: Sequence[Point], eta: int) -> bool:
    """Does a trial at ``own`` go on past a rung that ``others`` reached before it?

    ``own`` is ranked with ``others`` (:func:`mo_rank`; on equal points the others come
    first, as they reached the rung first) and goes on when among the first
    ``max(1, n // eta)`` of the ``n`` points.
    """
    points = [*others, own]
    keep = max(1, len(points) // eta)
    return len(points) - 1 in mo_rank(points)[:keep]


class MoAshaCheck:
    """An epoch hook of one trial: at each rung, prune it unless :func:`promoted` among
    the study's trials that reached that epoch (their stored ``history``).

    Args:
        study: the trial's study (read at each rung: the other trials' histories).
        number: the trial's number (its own stored history is not read: the hook is
            given its epochs directly, even while the storage is away).
        epochs: the epochs the trial trains (its rungs lie below).
        eta: the reduction factor η.
        multi_objective: rank on (val loss, parameters); ``False``: on val loss alone.
    """

    stop_reason = "pruned"

    def __init__(self, study: optuna.Study, number: int, *, epochs: int, eta: int,
                 multi_objective: bool) -> None:
        self.study, self.number, self.eta = study, number, eta
        self.rungs = set(rung_epochs(eta, epochs))
        self.multi_objective = multi_objective

    def _point(self, entry: dict[str, Any]) -> Point:
        return (float(entry["val_loss"]),
                float(entry["params"]) if self.multi_objective else 0.0)

    def __call__(self, record: EpochRecord) -> None:
        if record.epoch not in self.rungs:
            return
        others: list[Point] = []
        states = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
        try:
            trials = self.study.get_trials(deepcopy=False, states=states)
        except Exception as e:  # the storage is away: keep the work, decide at the next rung
            _log.warning("trial %d: MO-ASHA could not read its rung at epoch %d (%s); it "
                         "goes on", self.number, record.epoch, type(e).__name__)
            return
        for t in trials:
            if t.number == self.number:
                continue
            at = [h for h in t.user_attrs.get("history", ()) if h.get("epoch") == record.epoch]
            if at:
                others.append(self._point(at[0]))
        own = self._point({"val_loss": record.val_loss, "params": record.params})
        if not promoted(own, others, self.eta):
            raise StopTraining(f"pruned by MO-ASHA at epoch {record.epoch} "
                               f"({len(others) + 1} trials at this rung, η = {self.eta})")
