"""Comparing searches (arms) run on one spec: quality in the useful region, against compute.

Conventions (the numbers mean nothing without them):

* Objectives are (final validation loss, final parameter count), both minimised. Pruned
  and failed trials have no point (they are not on any front) but their compute counts.
* **Useful-region hypervolume** (the primary figure) is measured over
  ``(val loss, log₁₀ params)`` with the reference point
  ``(useful_factor × L_base, log₁₀(1.1 × P_max))``:

  - ``L_base`` is the best validation loss of the *baseline arm* (plain width search when
    the comparison has one, else the first arm). A network whose loss is more than
    ``useful_factor`` (default 2) times what the baseline reached is one nobody would
    ship; with the old reference (1.1 × the worst loss of any trial: above chance on
    digits) 86–91 % of width search's hypervolume came from such networks, and arms whose
    compute differed 3–6× looked alike. The level depends on the baseline only, never on
    the arm being judged, and is fixed before any arm is compared.
  - ``P_max`` is the parameter count of the static network with every layer at
    ``max_width`` (trial attribute ``max_params``): the largest network any arm can
    return. Log scale, because a user compares 1k with 10k parameters, not 100k with
    109k: every decade of size is worth the same.

* The **raw hypervolume** (secondary) keeps the old reference ``(1.1 × max val loss,
  1.1 × max params)`` over all arms, in raw units.
* **Compute** is cumulative over trials in order of completion, as a user waiting for the
  search sees it; a λ-path step counts only its own epochs (``search_cost_macs``). MACs
  count forward+backward as 3× forward; wall time is the trainer's own clock.
* **Level** = the baseline arm's final useful-region hypervolume. ``compute_to_reach``:
  the cumulative compute at which an arm's useful hypervolume first reaches the level
  (``None``: never). ``compute_share`` = that ÷ the baseline's own compute to reach it;
  an arm that never reaches it gets its total compute ÷ the baseline's (a lower bound on
  its true share) and ``reached = False``. ``hv_at_baseline_compute``: an arm's useful
  hypervolume at the compute the baseline spent in total.
* **Out of sample**: every arm's trials keep the network of their best validation epoch
  at their final widths (``studies._selection``: one rule for all arms, width trials
  included), and every choice — the fronts, the reference, the level — is made on
  validation. ``test_hypervolume`` scores each arm's validation-chosen front with its
  test losses instead (same reference point, the reference loss still from the
  baseline's validation loss): the figure selection on validation cannot inflate.
  ``test_hv_at_baseline_compute`` is its value at the baseline's total compute.
* **Readouts**: best validation loss reachable at ≤ P parameters (P on decades up to
  ``P_max``), the smallest network within ``loss_tolerance`` (10 %) of the best loss any
  arm reached, and, for classification, within 0.5 accuracy points of the best accuracy.
* **Sensitivity**: the compute shares at other useful factors (1.5 and 3), so that a
  conclusion that flips with the reference is visible.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna

from studies._trials import StudyLike, TrialPoint, source_info, trial_points, unique_labels
from studies.pareto import hypervolume, pareto_front

__all__ = [
    "ACCURACY_TOLERANCE_PT",
    "LOSS_TOLERANCE",
    "SENSITIVITY_FACTORS",
    "USEFUL_FACTOR",
    "ArmSummary",
    "Comparison",
    "CurvePoint",
    "UsefulRegion",
    "compare_studies",
    "summarise",
]

USEFUL_FACTOR = 2.0
SENSITIVITY_FACTORS = (1.5, 3.0)
LOSS_TOLERANCE = 0.10
ACCURACY_TOLERANCE_PT = 0.5

_CSV_FIELDS = [
    "arm",
    "study",
    "kind",
    "order",
    "trial_number",
    "state",
    "lam",
    "val_loss",
    "params",
    "widths",
    "cost_macs",
    "cumulative_cost_macs",
    "cumulative_wall_time_s",
    "best_val_loss",
    "hypervolume",
    "raw_hypervolume",
    "test_hypervolume",
]


@dataclass(frozen=True)
class UsefulRegion:
    """The reference point of the useful-region hypervolume (module docstring).

    Attributes:
        loss: the reference validation loss (``factor × baseline_best_loss``).
        log10_params: the reference ``log₁₀`` parameter count (``log₁₀(1.1 × max_params)``).
        factor: the useful factor.
        baseline: the arm whose best loss sets the level.
        baseline_best_loss: that arm's best validation loss.
        max_params: the largest network any arm can return.
    """

    loss: float
    log10_params: float
    factor: float
    baseline: str
    baseline_best_loss: float
    max_params: int

    def hypervolume(self, front: Sequence[tuple[float, float]]) -> float:
        """Useful-region hypervolume of ``(val_loss, params)`` points."""
        pts = [(x, math.log10(max(y, 1.0))) for x, y in front]
        return hypervolume(pts, (self.loss, self.log10_params))

    def describe(self) -> str:
        """One sentence saying how the reference was set."""
        return (
            f"useful region: val loss < {self.factor:g} × {self.baseline} best "
            f"({self.baseline_best_loss:.4g}) = {self.loss:.4g}; "
            f"log10 params < log10(1.1 × {self.max_params}) = {self.log10_params:.4g}"
        )


@dataclass(frozen=True)
class CurvePoint:
    """The state of a search after one more finished trial."""

    order: int
    trial_number: int
    state: str
    lam: float | None
    val_loss: float | None
    params: int | None
    widths: list[int]
    cost_macs: float
    cumulative_cost_macs: float
    cumulative_wall_time_s: float
    best_val_loss: float | None
    hypervolume: float
    raw_hypervolume: float
    test_hypervolume: float = 0.0


@dataclass(frozen=True)
class ArmSummary:
    """One arm of a comparison (fields as in the module docstring)."""

    arm: str
    label: str
    kind: str
    n_complete: int
    n_pruned: int
    n_failed: int
    n_finished: int
    front: list[tuple[float, int]]
    hypervolume: float
    raw_hypervolume: float
    best_val_loss: float | None
    total_cost_macs: float
    total_wall_time_s: float
    curve: list[CurvePoint]
    compute_to_reach: dict[str, float] | None = None
    compute_share: float | None = None
    reached: bool = False
    hv_at_baseline_compute: float = 0.0
    test_hypervolume: float = 0.0
    test_hv_at_baseline_compute: float = 0.0
    best_loss_at_params: list[dict[str, Any]] = field(default_factory=list)
    smallest_within_loss: dict[str, Any] | None = None
    smallest_within_accuracy: dict[str, Any] | None = None

    def to_dict(self, *, curve: bool = True) -> dict[str, Any]:
        """JSON types only (``curve=False`` leaves the per-trial curve out)."""
        out = asdict(self)
        out["front"] = [{"val_loss": x, "params": y} for x, y in self.front]
        if not curve:
            out.pop("curve")
        return out


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_studies`: one :class:`ArmSummary` per arm."""

    arms: list[ArmSummary]
    baseline: str
    region: UsefulRegion | None
    raw_reference: tuple[float, float] | None
    level: float
    best_val_loss: float | None
    best_val_accuracy: float | None
    sensitivity: dict[str, dict[str, float | None]]
    _sources: tuple[StudyLike, ...] | None = field(default=None, repr=False, compare=False)

    def arm(self, name: str) -> ArmSummary:
        """The summary of arm ``name``. Raises ``KeyError`` when the comparison has none."""
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(f"no arm {name!r} in this comparison (arms: {self.arm_names})")

    @property
    def arm_names(self) -> list[str]:
        """The arms in order."""
        return [a.arm for a in self.arms]

    def reference_text(self) -> str:
        """How the reference point and the level were set, in words."""
        if self.region is None:
            return (
                f"no useful region: the baseline ({self.baseline}) has no complete trial, "
                "so every useful hypervolume is 0"
            )
        return (
            f"{self.region.describe()}; level = the {self.baseline} arm's final useful "
            f"hypervolume ({self.level:.4g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole comparison as JSON types."""
        return {
            "arms": [a.to_dict() for a in self.arms],
            "baseline": self.baseline,
            "region": asdict(self.region) if self.region else None,
            "reference": self.reference_text(),
            "raw_reference": list(self.raw_reference) if self.raw_reference else None,
            "level": self.level,
            "best_val_loss": self.best_val_loss,
            "best_val_accuracy": self.best_val_accuracy,
            "loss_tolerance": LOSS_TOLERANCE,
            "accuracy_tolerance_pt": ACCURACY_TOLERANCE_PT,
            "sensitivity": self.sensitivity,
            "conventions": __doc__,
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One row per finished trial of every arm (the curves), in each arm's order."""
        rows = []
        for side in self.arms:
            for p in side.curve:
                row = asdict(p)
                row["widths"] = "x".join(str(w) for w in p.widths)
                rows.append({"arm": side.arm, "study": side.label, "kind": side.kind, **row})
        return rows

    def csv_text(self) -> str:
        """:meth:`csv_rows` as CSV text with a header."""
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.csv_rows())
        return buf.getvalue()

    @property
    def sources(self) -> tuple[StudyLike, ...]:
        """The studies compared, in arm order (empty for a comparison read back from JSON)."""
        return self._sources or ()


def _raw_reference(points: list[TrialPoint]) -> tuple[float, float] | None:
    points = [p for p in points if p.complete]
    if not points:
        return None
    max_loss = max(float(p.val_loss) for p in points if p.val_loss is not None)
    max_params = max(int(p.params) for p in points if p.params is not None)
    # 1.1× plus a floor, so a point at the maximum still adds volume and zeros are safe.
    return (max_loss * 1.1 + 1e-12, max_params * 1.1 + 1.0)


def _curve(
    points: list[TrialPoint],
    region: UsefulRegion | None,
    raw_reference: tuple[float, float] | None,
) -> list[CurvePoint]:
    curve = []
    cost = wall = 0.0
    best: float | None = None
    front: list[tuple[float, float]] = []
    chosen: list[TrialPoint] = []  # the trials on the validation front
    hv = raw = test = 0.0
    for i, p in enumerate(points):
        cost += p.search_cost_macs
        wall += p.search_wall_time_s
        if p.complete and p.val_loss is not None and p.params is not None:
            best = p.val_loss if best is None else min(best, p.val_loss)
            new = (float(p.val_loss), float(p.params))
            # the hypervolumes change only when the new point enters the front
            if not any(x <= new[0] and y <= new[1] for x, y in front):
                front = pareto_front([*front, new])
                on_front = set(front)
                chosen = [q for q in [*chosen, p]
                          if (float(q.val_loss), float(q.params)) in on_front]  # type: ignore[arg-type]
                hv = region.hypervolume(front) if region is not None else 0.0
                raw = hypervolume(front, raw_reference) if raw_reference is not None else 0.0
                test = _test_hypervolume(chosen, region)
        curve.append(
            CurvePoint(
                i, p.number, p.state, p.lam, p.val_loss, p.params, list(p.final_widths),
                p.search_cost_macs, cost, wall, best, hv, raw, test,
            )
        )
    return curve


def _test_hypervolume(chosen: list[TrialPoint], region: UsefulRegion | None) -> float:
    """Useful-region hypervolume of validation-chosen trials scored by their test losses."""
    if region is None:
        return 0.0
    return region.hypervolume(
        [(q.test_loss, q.params) for q in chosen if q.test_loss is not None and q.params]
    )


def summarise(
    source: StudyLike,
    region: UsefulRegion | None,
    raw_reference: tuple[float, float] | None = None,
    *,
    arm: str | None = None,
    label: str | None = None,
) -> ArmSummary:
    """Summarise one study under a given useful region and raw reference point."""
    own_label, kind = source_info(source, "study")
    return _summary(
        trial_points(source), region, raw_reference,
        arm=arm or _arm_of(source), label=label or own_label, kind=kind,
    )


def _summary(
    points: list[TrialPoint],
    region: UsefulRegion | None,
    raw_reference: tuple[float, float] | None,
    *,
    arm: str,
    label: str,
    kind: str,
) -> ArmSummary:
    curve = _curve(points, region, raw_reference)
    complete = [(float(p.val_loss), int(p.params)) for p in points if p.complete]  # type: ignore[arg-type]
    front = [(x, int(y)) for x, y in pareto_front(complete)]
    last = curve[-1] if curve else None
    return ArmSummary(
        arm=arm,
        label=label,
        kind=kind,
        n_complete=len(complete),
        n_pruned=sum(p.state == "PRUNED" for p in points),
        n_failed=sum(p.state == "FAIL" for p in points),
        n_finished=len(points),
        front=front,
        hypervolume=last.hypervolume if last else 0.0,
        test_hypervolume=last.test_hypervolume if last else 0.0,
        raw_hypervolume=last.raw_hypervolume if last else 0.0,
        best_val_loss=last.best_val_loss if last else None,
        total_cost_macs=last.cumulative_cost_macs if last else 0.0,
        total_wall_time_s=last.cumulative_wall_time_s if last else 0.0,
        curve=curve,
    )


def _arm_of(source: StudyLike) -> str:
    if isinstance(source, optuna.Study):
        attrs = source.user_attrs
        return str(attrs.get("arm") or attrs.get("kind") or "unknown")
    return source_info(source)[1]


def _reach(side: ArmSummary, level: float) -> dict[str, float] | None:
    if level <= 0:
        return None
    for p in side.curve:
        # relative tolerance: hypervolumes are sums of floats computed in different orders
        if p.hypervolume >= level * (1 - 1e-9):
            return {
                "cost_macs": p.cumulative_cost_macs,
                "wall_time_s": p.cumulative_wall_time_s,
                "trials": float(p.order + 1),
            }
    return None


def _hv_at(side: ArmSummary, cost: float, *, test: bool = False) -> float:
    """An arm's useful hypervolume (``test``: its front's test hypervolume) once it had
    spent ``cost`` MACs."""
    hv = 0.0
    for p in side.curve:
        if p.cumulative_cost_macs > cost * (1 + 1e-12):
            break
        hv = p.test_hypervolume if test else p.hypervolume
    return hv


def _param_levels(max_params: int) -> list[int]:
    """Decades from 10² up to (and including) the largest network."""
    levels = [10**k for k in range(2, 12) if 10**k < max_params]
    return [*levels, max_params]


def _max_params(points: list[TrialPoint]) -> int:
    recorded = [p.max_params for p in points if p.max_params]
    if recorded:
        return max(recorded)
    sizes = [int(p.params) for p in points if p.params is not None]
    return int(max(sizes, default=1) * 1.1) + 1


def _net(p: TrialPoint) -> dict[str, Any]:
    return {
        "trial": p.number, "params": p.params, "val_loss": p.val_loss,
        "val_accuracy": p.val_accuracy, "widths": list(p.final_widths),
    }


def _readouts(
    side: ArmSummary,
    points: list[TrialPoint],
    levels: list[int],
    best_loss: float | None,
    best_acc: float | None,
) -> ArmSummary:
    done = [p for p in points if p.complete]
    at_params = []
    for level in levels:
        fit = [p for p in done if int(p.params or 0) <= level]
        top = min(fit, key=lambda p: float(p.val_loss), default=None)  # type: ignore[arg-type]
        at_params.append(
            {"params_at_most": level, **(_net(top) if top else {"val_loss": None})}
        )
    by_size = sorted(done, key=lambda p: (int(p.params or 0), float(p.val_loss or 0)))
    within_loss = within_acc = None
    if best_loss is not None:
        limit = best_loss * (1 + LOSS_TOLERANCE)
        hit = next((p for p in by_size if float(p.val_loss) <= limit), None)  # type: ignore[arg-type]
        within_loss = _net(hit) if hit else None
    if best_acc is not None:
        floor = best_acc - ACCURACY_TOLERANCE_PT / 100
        hit = next(
            (p for p in by_size if p.val_accuracy is not None and p.val_accuracy >= floor), None
        )
        within_acc = _net(hit) if hit else None
    return replace(
        side, best_loss_at_params=at_params, smallest_within_loss=within_loss,
        smallest_within_accuracy=within_acc,
    )


def _region(
    baseline: str, points: list[TrialPoint], max_params: int, factor: float
) -> UsefulRegion | None:
    losses = [float(p.val_loss) for p in points if p.complete and p.val_loss is not None]
    if not losses:
        return None
    best = min(losses)
    return UsefulRegion(
        loss=factor * best if best > 0 else factor * 1e-12,
        log10_params=math.log10(1.1 * max_params),
        factor=factor,
        baseline=baseline,
        baseline_best_loss=best,
        max_params=max_params,
    )


def _shares(arms: list[ArmSummary], baseline: str, level: float) -> list[ArmSummary]:
    base = next(a for a in arms if a.arm == baseline)
    base_reach = _reach(base, level)
    out = []
    for a in arms:
        reach = _reach(a, level)
        share = None
        if base_reach and base_reach["cost_macs"] > 0:
            cost = reach["cost_macs"] if reach else a.total_cost_macs
            share = cost / base_reach["cost_macs"]
        out.append(
            replace(
                a, compute_to_reach=reach, compute_share=share, reached=reach is not None,
                hv_at_baseline_compute=_hv_at(a, base.total_cost_macs),
                test_hv_at_baseline_compute=_hv_at(a, base.total_cost_macs, test=True),
            )
        )
    return out


def _keyed(
    sources: Sequence[StudyLike] | Mapping[str, StudyLike],
) -> tuple[list[str], list[StudyLike], list[str]]:
    """Names, studies and each study's own arm (names differ from arms when an arm is
    there twice: then the studies are named by their labels)."""
    if isinstance(sources, Mapping):
        items = list(sources.values())
        return list(sources), items, [_arm_of(s) for s in items]
    items = list(sources)
    arms = [_arm_of(s) for s in items]
    names = unique_labels(items) if len(set(arms)) < len(arms) else list(arms)
    return names, items, arms


def compare_studies(
    *sources: StudyLike | Mapping[str, StudyLike],
    baseline: str | None = None,
    useful_factor: float = USEFUL_FACTOR,
    sensitivity_factors: Sequence[float] = SENSITIVITY_FACTORS,
) -> Comparison:
    """Compare searches (arms) run on one spec (module docstring for every convention).

    Each source is an ``optuna.Study`` or a list of its ``FrozenTrial``; alternatively pass
    one mapping ``{arm: source}``. Arms are named by the study's ``arm`` user attribute
    (``kind`` for older studies; for plain trial lists ``lambda`` or ``width``). Studies are
    read as they are now, so a comparison of running studies is a snapshot.

    Args:
        sources: the arms' studies, or one ``{arm: study}`` mapping.
        baseline: the arm that sets the useful region and the level (default ``width``
            when present, else the first arm).
        useful_factor: the reference loss as a multiple of the baseline's best loss.
        sensitivity_factors: the other factors whose shares ``sensitivity`` reports (a
            figure that needs none passes ``()``).

    Returns:
        The :class:`Comparison`; ``studies.write_comparison(comparison, dir)`` saves it
        as JSON, CSV and offline HTML.

    Raises:
        ValueError: no sources, or ``baseline`` is not one of the arms.
    """
    if len(sources) == 1 and isinstance(sources[0], Mapping):
        names, studies, kinds = _keyed(sources[0])
    else:
        names, studies, kinds = _keyed([s for s in sources if not isinstance(s, Mapping)])
    if not studies:
        raise ValueError("compare_studies needs at least one study")
    if baseline is None:  # the first width-search study, else the first arm
        baseline = next((n for n, k in zip(names, kinds, strict=True) if k == "width"), None)
    base = baseline or names[0]
    if base not in names:
        raise ValueError(f"baseline {base!r} is not one of the arms {names}")
    labels = unique_labels(studies)
    if not any(isinstance(s, optuna.Study) for s in studies):
        from studies.arms import ARM_LABELS

        labels = [ARM_LABELS.get(n, n) for n in names]
    points = {n: trial_points(s) for n, s in zip(names, studies, strict=True)}
    every = [p for pts in points.values() for p in pts]
    max_params = _max_params(every)
    raw_reference = _raw_reference(every)
    kinds_of = {n: source_info(s, "study")[1] for n, s in zip(names, studies, strict=True)}

    def under(factor: float) -> tuple[UsefulRegion | None, list[ArmSummary], float]:
        region = _region(base, points[base], max_params, factor)
        arms = [
            _summary(points[n], region, raw_reference, arm=n, label=lab, kind=kinds_of[n])
            for n, lab in zip(names, labels, strict=True)
        ]
        level = next(a for a in arms if a.arm == base).hypervolume
        return region, _shares(arms, base, level), level

    region, arms, level = under(useful_factor)
    complete = [p for p in every if p.complete]
    best_loss = min((float(p.val_loss) for p in complete), default=None)  # type: ignore[arg-type]
    accs = [p.val_accuracy for p in complete if p.val_accuracy is not None]
    best_acc = max(accs) if accs else None
    levels = _param_levels(max_params)
    arms = [_readouts(a, points[a.arm], levels, best_loss, best_acc) for a in arms]
    sensitivity = {f"{useful_factor:g}": {a.arm: a.compute_share for a in arms}}
    for factor in sensitivity_factors:
        if factor != useful_factor:
            _, other, _ = under(factor)
            sensitivity[f"{factor:g}"] = {a.arm: a.compute_share for a in other}
    return Comparison(
        arms=arms, baseline=base, region=region, raw_reference=raw_reference, level=level,
        best_val_loss=best_loss, best_val_accuracy=best_acc, sensitivity=sensitivity,
        _sources=tuple(studies),
    )
