"""The λ path after its grid: the compute budget left goes to the path's own front.

A grid step's snapshot is fine-tuned ``path.finetune_epochs`` (5) epochs; a static width
trial trains ``epochs + finetune_epochs`` (17 at the bench's default). The path's small
snapshots are under-trained, not badly shaped, and the grid alone leaves most of a compute
budget unspent (``docs/method.md`` §5 has the measurements). So once a grid pass has ended
(its last step, or collapse), the path spends what is left of its compute budget, in this
order:

1. **Refinement rounds.** At a round's start the *candidates* are the snapshots (their
   kept (val loss, params), ``studies._selection``) that have not *converged* and that no
   snapshot fine-tuned as long or less dominates — on the front among equals in training,
   so a fresh snapshot is not ruled out by one refined for 40 epochs — ordered
   **cheapest first**
   (fewest parameters, then step). The order is stored with the path's state, so a
   resumed path finishes the round in the same order. Each candidate's fine-tune is
   continued ``path.refine_epochs`` more epochs from where it stopped (same trainer,
   optimizer and dead rule: the network equals an uninterrupted fine-tune of the summed
   length) and stored as a finished trial (``path_snapshot``, ``path_round``,
   ``finetune_epochs_total``; its history and costs are the continuation's own). A
   continuation that does not lower the snapshot's kept val loss by 0.01 % marks it
   converged: it is never continued again.
2. **A shifted pass**, once no candidate is left: the grid again from the warm-up's end
   (network, optimizer and dead rule as the warm-up left them), at λ values shifted by a
   fraction of a grid step on the log scale — ½, then ¼, ¾, ⅛ … (:func:`pass_shift`) —
   each step stored like a grid step (``path_pass``). Its snapshots join the front; then
   refinement rounds again. At most ``path.passes`` passes; then, with
   ``path.ratio_passes``, one pass over the grid per ratio r with the layers' λ spread by
   r (two layers: × r and ÷ r), for shapes off the diagonal.

A snapshot that is not a candidate can never become one again (it is not continued, and
a snapshot's kept loss only falls, so what dominates it stays ahead), so its trainer is
dropped; the checkpoint holds only the live
candidates'. The path ends when the compute budget is spent (checked before every
continuation and step, like every trial start), when no candidate and no pass is left, or
after ``path.refine_rounds`` rounds. All of this runs only with ``path.refine =
"finetune"`` and a compute budget (``max_macs`` / ``max_seconds``) or an explicit
``refine_rounds``: a path given only its grid points ends at its grid, as it always did.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from shrinknets_core.training.trainer import EpochRecord, Trainer
from studies._checkpoints import trainer_from_state
from studies._selection import BestEpoch
from studies.budget import Spent, exhausted
from studies.objectives import (
    EpochHook,
    TrialRun,
    continue_finetune,
)
from studies.spec import StudySpec

__all__ = [
    "Snapshot",
    "budget_spent",
    "continue_snapshot",
    "drop_dominated",
    "next_candidate",
    "pass_count",
    "pass_grid",
    "pass_plan",
    "pass_shift",
    "restore_snapshots",
    "round_order",
    "snapshot_states",
]

_IMPROVEMENT = 1e-4


@dataclass
class Snapshot:
    """One grid step's fine-tuned network, as the refinement sees it.

    Attributes:
        step: its index: ``pass × grid points + grid step``.
        lam: its λ.
        val_loss, params: the kept network's objectives (``studies._selection``).
        epochs: fine-tune epochs trained so far.
        last_epoch: its last epoch's number along the path.
        converged: its last continuation did not lower ``val_loss``.
        tuner, best: its fine-tune trainer and selection, which continue it (``None``
            once dropped: off the front or converged, it is never continued again).
    """

    step: int
    lam: float
    val_loss: float
    params: int
    epochs: int
    last_epoch: int
    converged: bool = False
    tuner: Trainer | None = None
    best: BestEpoch | None = None

    @classmethod
    def of_step(cls, step: int, lam: float, run: TrialRun, epochs: int) -> Snapshot:
        """The snapshot a grid step stored (``run``: its :class:`TrialRun`)."""
        return cls(step, lam, float(run.result.val_loss), int(run.result.params), epochs,
                   int(run.history[-1]["epoch"]) if run.history else 0,
                   tuner=run.finetuner, best=run.best)

    @property
    def live(self) -> bool:
        """True while it can be continued."""
        return self.tuner is not None and self.best is not None and not self.converged

    @property
    def key(self) -> tuple[int, int]:
        """Cheapest first: fewest parameters, then grid step."""
        return (self.params, self.step)


def _dominated(s: Snapshot, snaps: dict[int, Snapshot]) -> bool:
    """True when a snapshot fine-tuned no longer than ``s`` is at least as good on both
    objectives and better on one: ``s`` is behind for its shape, not for its training."""
    if not math.isfinite(s.val_loss):
        return True
    return any(
        d is not s and d.epochs <= s.epochs and d.val_loss <= s.val_loss
        and d.params <= s.params and (d.val_loss < s.val_loss or d.params < s.params)
        for d in snaps.values()
    )


def round_order(snaps: dict[int, Snapshot]) -> list[int]:
    """A round's candidates, cheapest first: the live snapshots that no snapshot trained
    as long or less dominates."""
    live = [s for s in snaps.values() if s.live and not _dominated(s, snaps)]
    return [s.step for s in sorted(live, key=lambda s: s.key)]


def drop_dominated(snaps: dict[int, Snapshot]) -> None:
    """Drop the trainer of every snapshot that converged or that a snapshot trained as
    long or less dominates (it can never become a candidate again)."""
    for s in snaps.values():
        if s.converged or _dominated(s, snaps):
            s.tuner = s.best = None


def next_candidate(state: Any, snaps: dict[int, Snapshot], rounds: int | None) -> int | None:
    """The next snapshot to continue (advancing ``state``'s round), or ``None`` when no
    candidate is left or ``rounds`` rounds are done. ``state`` is the path's
    :class:`~studies.lambda_path.PathState` (``refine_round``, ``refine_order``,
    ``refine_next``)."""
    while True:
        while state.refine_next < len(state.refine_order):
            step = state.refine_order[state.refine_next]
            snap = snaps.get(step)
            if snap is not None and snap.live:
                return int(step)
            state.refine_next += 1  # dropped since the round began: skip it
        if rounds is not None and state.refine_round >= rounds:
            return None
        order = round_order(snaps)
        if not order:
            return None
        state.refine_round += 1
        state.refine_order, state.refine_next = order, 0


def pass_shift(index: int) -> float:
    """The shift of pass ``index`` (1, 2, …) in grid steps: the van der Corput sequence
    ½, ¼, ¾, ⅛, ⅜ … (each pass halves the largest gap left between tried λ)."""
    shift, base, n = 0.0, 0.5, index
    while n:
        shift += base * (n & 1)
        n >>= 1
        base /= 2
    return shift


def pass_grid(grid: list[float], index: int) -> list[float]:
    """The λ values of pass ``index``: each gap of the geometric ``grid`` cut at
    :func:`pass_shift` (pass 0 is the grid itself)."""
    if index == 0 or len(grid) < 2:
        return list(grid)
    f = pass_shift(index)
    return [lo * (hi / lo) ** f for lo, hi in itertools.pairwise(grid)]


def pass_count(spec: StudySpec) -> int:
    """How many passes may follow the grid: the shifted ones, then one per ratio
    (``path.ratio_passes``; none for a one-layer network)."""
    path = spec.search.path
    return path.passes + (len(path.ratio_passes) if spec.architecture.depth > 1 else 0)


def pass_plan(
    spec: StudySpec, grid: list[float], index: int
) -> tuple[list[float], tuple[float, ...] | None]:
    """The λ values of pass ``index`` and its per-layer λ factors (``None``: the same λ
    for every layer): the grid (0), a shifted grid (1 … ``passes``), then the grid with
    the layers' λ spread by a ratio r, layer i of d × r^((d−1−2i)/(d−1))."""
    passes = spec.search.path.passes
    if index <= passes:
        return pass_grid(grid, index), None
    ratio = spec.search.path.ratio_passes[index - passes - 1]
    depth = spec.architecture.depth
    return list(grid), tuple(ratio ** ((depth - 1 - 2 * i) / (depth - 1)) for i in range(depth))


def budget_spent(spec: StudySpec, totals: dict[str, float]) -> str | None:
    """Why no step or continuation of the path may start (its compute budget is spent:
    ``totals`` are the path's cumulative costs), else ``None``."""
    if not spec.search.compute_budget:
        return None
    return exhausted(spec, Spent(0, totals["cost_macs"], totals["wall_time_s"]))


def continue_snapshot(
    spec: StudySpec, snap: Snapshot, hooks: list[EpochHook]
) -> TrialRun:
    """Continue ``snap``'s fine-tune ``path.refine_epochs`` epochs; updates the snapshot."""
    assert snap.tuner is not None and snap.best is not None
    run = continue_finetune(snap.tuner, snap.best, spec.search.path.refine_epochs,
                            hooks=hooks, epoch_offset=snap.last_epoch)
    if run.stopped_by is not None:
        return run
    before = snap.val_loss
    snap.epochs += len(run.history)
    snap.last_epoch += len(run.history)
    snap.val_loss, snap.params = float(run.result.val_loss), int(run.result.params)
    snap.converged = not snap.val_loss < before * (1 - _IMPROVEMENT)
    return run


def snapshot_states(snaps: dict[int, Snapshot]) -> list[dict[str, Any]]:
    """The snapshots as a checkpoint holds them (trainer states of the live ones only)."""
    out = []
    for s in snaps.values():
        item: dict[str, Any] = {
            "step": s.step, "lam": s.lam, "val_loss": s.val_loss, "params": s.params,
            "epochs": s.epochs, "last_epoch": s.last_epoch, "converged": s.converged,
        }
        if s.live:
            assert s.tuner is not None and s.best is not None
            item["trainer"] = s.tuner.state_dict()
            item["best_model"] = s.best.model
            item["best_record"] = s.best.record.to_dict() if s.best.record else None
        out.append(item)
    return out


def restore_snapshots(
    spec: StudySpec, saved: list[dict[str, Any]], device: str | None
) -> dict[int, Snapshot]:
    """Rebuild :func:`snapshot_states` output: each live snapshot's fine-tune trainer on a
    fresh full-width network with its removals replayed, ready to continue."""
    snaps: dict[int, Snapshot] = {}
    for item in saved:
        snap = Snapshot(int(item["step"]), float(item["lam"]), float(item["val_loss"]),
                        int(item["params"]), int(item["epochs"]), int(item["last_epoch"]),
                        bool(item["converged"]))
        if "trainer" in item:
            tuner = trainer_from_state(spec, item["trainer"], device)
            best = BestEpoch()
            if item.get("best_model") is not None:
                best.model = item["best_model"].to(tuner.device)
            record = item.get("best_record")
            best.record = EpochRecord.from_dict(record) if record else None
            snap.tuner, snap.best = tuner, best
        snaps[snap.step] = snap
    return snaps
