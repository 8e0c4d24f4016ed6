"""Comparing two searches on the same spec: Pareto fronts, hypervolume and compute.

Conventions (the numbers mean nothing without them):

* Objectives are (final validation loss, final parameter count), both minimised.
* **Shared reference point**: ``(1.1 × max val loss, 1.1 × max params)`` over the complete
  trials of *both* studies, in raw units. Both hypervolumes use it, so their ratio is
  meaningful; absolute values are not comparable across comparisons.
* **Compute** is cumulative over trials in order of completion (as a user waiting for the
  search would see it). Pruned and failed trials count their spent compute. A λ-path step
  counts only its own epochs (``search_cost_macs``), not the path's cumulative cost. MACs
  count forward+backward as 3× forward; wall time is the trainer's own clock.
* ``compute_to_reach``: the cumulative compute at which one study's hypervolume first
  reaches the other's final hypervolume; ``None`` if it never does.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from studies._trials import StudyLike, TrialPoint, source_info, trial_points, unique_labels
from studies.pareto import hypervolume, pareto_front

__all__ = ["Comparison", "CurvePoint", "StudySummary", "compare_studies", "shared_reference"]

_CSV_FIELDS = [
    "study",
    "kind",
    "order",
    "trial_number",
    "state",
    "lam",
    "val_loss",
    "params",
    "cumulative_cost_macs",
    "cumulative_wall_time_s",
    "best_val_loss",
    "hypervolume",
]


@dataclass(frozen=True)
class CurvePoint:
    """The state of a search after one more finished trial."""

    order: int
    trial_number: int
    state: str
    lam: float | None
    val_loss: float | None
    params: int | None
    cumulative_cost_macs: float
    cumulative_wall_time_s: float
    best_val_loss: float | None
    hypervolume: float


@dataclass(frozen=True)
class StudySummary:
    """One side of a comparison."""

    label: str
    kind: str
    n_complete: int
    n_finished: int
    front: list[tuple[float, int]]
    hypervolume: float
    best_val_loss: float | None
    total_cost_macs: float
    total_wall_time_s: float
    curve: list[CurvePoint]

    def to_dict(self) -> dict[str, Any]:
        """JSON types only."""
        out = asdict(self)
        out["front"] = [{"val_loss": x, "params": y} for x, y in self.front]
        return out


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_studies` (``a`` is the λ side, ``b`` the width side)."""

    a: StudySummary
    b: StudySummary
    reference: tuple[float, float] | None
    compute_a_to_reach_b: dict[str, float] | None
    compute_b_to_reach_a: dict[str, float] | None

    @property
    def hypervolume_ratio(self) -> float | None:
        """``a``'s final hypervolume over ``b``'s (``None`` when ``b``'s is 0)."""
        return self.a.hypervolume / self.b.hypervolume if self.b.hypervolume > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The whole comparison as JSON types."""
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "reference": list(self.reference) if self.reference else None,
            "hypervolume_ratio_a_over_b": self.hypervolume_ratio,
            "compute_a_to_reach_b": self.compute_a_to_reach_b,
            "compute_b_to_reach_a": self.compute_b_to_reach_a,
            "conventions": __doc__,
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One row per finished trial of either study (the curves)."""
        rows = []
        for side in (self.a, self.b):
            for p in side.curve:
                row = asdict(p)
                rows.append({"study": side.label, "kind": side.kind, **row})
        return rows

    def write(self, directory: str | Path, *, figures: bool = True) -> dict[str, Path]:
        """Write ``comparison.json``, ``comparison.csv`` and ``comparison.html`` into a folder.

        Args:
            directory: created if missing.
            figures: also write the offline HTML report (plotly.js embedded, no CDN).

        Returns:
            The written paths by kind (``json``, ``csv``, ``html``).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "comparison.json", "csv": out / "comparison.csv"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, default=str), "utf-8")
        with paths["csv"].open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
            writer.writeheader()
            writer.writerows(self.csv_rows())
        if figures and self._sources is not None:
            from studies._report import write_report

            paths["html"] = write_report(out / "comparison.html", self, *self._sources)
        return paths

    _sources: tuple[StudyLike, StudyLike] | None = field(default=None, repr=False, compare=False)


def shared_reference(*sources: StudyLike) -> tuple[float, float] | None:
    """The reference point shared by several studies (see module docstring)."""
    points = [p for s in sources for p in trial_points(s) if p.complete]
    if not points:
        return None
    max_loss = max(float(p.val_loss) for p in points if p.val_loss is not None)
    max_params = max(int(p.params) for p in points if p.params is not None)
    # 1.1× plus a floor, so a point at the maximum still adds volume and zeros are safe.
    return (max_loss * 1.1 + 1e-12, max_params * 1.1 + 1.0)


def _curve(points: list[TrialPoint], reference: tuple[float, float] | None) -> list[CurvePoint]:
    curve = []
    cost = wall = 0.0
    best: float | None = None
    front: list[tuple[float, float]] = []
    hv = 0.0
    for i, p in enumerate(points):
        cost += p.search_cost_macs
        wall += p.search_wall_time_s
        if p.complete and p.val_loss is not None and p.params is not None:
            best = p.val_loss if best is None else min(best, p.val_loss)
            new = (float(p.val_loss), float(p.params))
            # the hypervolume changes only when the new point enters the front
            if reference is not None and not any(
                x <= new[0] and y <= new[1] for x, y in front
            ):
                front = pareto_front([*front, new])
                hv = hypervolume(front, reference)
        curve.append(
            CurvePoint(i, p.number, p.state, p.lam, p.val_loss, p.params, cost, wall, best, hv)
        )
    return curve


def summarise(
    source: StudyLike,
    reference: tuple[float, float] | None,
    *,
    default_label: str = "study",
    label: str | None = None,
) -> StudySummary:
    """Summarise one study under a given reference point (``label`` overrides its label)."""
    own_label, kind = source_info(source, default_label)
    label = label or own_label
    points = trial_points(source)
    curve = _curve(points, reference)
    complete = [(float(p.val_loss), int(p.params)) for p in points if p.complete]  # type: ignore[arg-type]
    front = [(x, int(y)) for x, y in pareto_front(complete)]
    last = curve[-1] if curve else None
    return StudySummary(
        label=label,
        kind=kind,
        n_complete=len(complete),
        n_finished=len(points),
        front=front,
        hypervolume=last.hypervolume if last else 0.0,
        best_val_loss=last.best_val_loss if last else None,
        total_cost_macs=last.cumulative_cost_macs if last else 0.0,
        total_wall_time_s=last.cumulative_wall_time_s if last else 0.0,
        curve=curve,
    )


def _compute_to_reach(side: StudySummary, target: float) -> dict[str, float] | None:
    if target <= 0:
        return None
    for p in side.curve:
        # relative tolerance: hypervolumes are sums of floats computed in different orders
        if p.hypervolume >= target * (1 - 1e-9):
            return {
                "cost_macs": p.cumulative_cost_macs,
                "wall_time_s": p.cumulative_wall_time_s,
                "trials": float(p.order + 1),
            }
    return None


def compare_studies(lambda_study: StudyLike, width_study: StudyLike) -> Comparison:
    """Compare a λ-kind study (side ``a``) with a width study (side ``b``) on one spec.

    Either argument may be any study (e.g. a λ path against a λ search); only the labels
    change. Both are read as they are now, so a comparison of running studies is a
    snapshot.

    Args:
        lambda_study: an ``optuna.Study`` or a list of its ``FrozenTrial``.
        width_study: likewise.

    Returns:
        The :class:`Comparison`; ``write(dir)`` saves it as JSON, CSV and offline HTML.
    """
    reference = shared_reference(lambda_study, width_study)
    la, lb = unique_labels([lambda_study, width_study])
    if not isinstance(lambda_study, optuna.Study) and not isinstance(width_study, optuna.Study):
        la, lb = "lambda search", "width search"
    a = summarise(lambda_study, reference, label=la)
    b = summarise(width_study, reference, label=lb)
    return Comparison(
        a=a,
        b=b,
        reference=reference,
        compute_a_to_reach_b=_compute_to_reach(a, b.hypervolume),
        compute_b_to_reach_a=_compute_to_reach(b, a.hypervolume),
        _sources=(lambda_study, width_study),
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0 or math.isnan(denominator):
        return None
    return numerator / denominator
