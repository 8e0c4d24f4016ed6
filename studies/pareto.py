"""Pareto fronts and exact 2-D hypervolume for (validation loss, parameter count).

Both objectives are minimised. Optuna's own hypervolume code lives in the private module
``optuna._hypervolume`` (no stability promise), and the 2-D case is a few lines, so it is
implemented here exactly and tested against hand-computed fronts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from shrinknets_core.errors import ConfigError

__all__ = ["hypervolume", "pareto_front"]


def _pairs(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    out = []
    for p in points:
        if len(p) != 2:
            raise ConfigError(f"points: each point needs 2 objectives, got {len(p)}: {p!r}")
        x, y = float(p[0]), float(p[1])
        if math.isfinite(x) and math.isfinite(y):
            out.append((x, y))
    return out


def pareto_front(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """The non-dominated points of a set, both coordinates minimised.

    Args:
        points: ``(f1, f2)`` pairs, e.g. ``(val_loss, params)``; non-finite pairs are ignored.

    Returns:
        The Pareto-optimal points without duplicates, sorted by ``f1`` ascending (so ``f2``
        is strictly descending). A point equal to another in one coordinate and worse in
        the other is dominated.
    """
    front: list[tuple[float, float]] = []
    best_y = math.inf
    for x, y in sorted(set(_pairs(points))):
        if y < best_y:
            front.append((x, y))
            best_y = y
    return front


def hypervolume(points: Iterable[Sequence[float]], reference: Sequence[float]) -> float:
    """The area dominated by ``points`` and bounded by ``reference`` (both minimised).

    Args:
        points: ``(f1, f2)`` pairs; points not strictly better than the reference in both
            coordinates contribute nothing.
        reference: the ``(r1, r2)`` corner; compare hypervolumes only under the same
            reference.

    Returns:
        The exact dominated area (0.0 for an empty set).

    Raises:
        ConfigError: the reference is not two finite numbers.
    """
    if len(reference) != 2 or not all(math.isfinite(float(r)) for r in reference):
        raise ConfigError(f"reference: expected two finite numbers, got {reference!r}")
    rx, ry = float(reference[0]), float(reference[1])
    inside = [(x, y) for x, y in _pairs(points) if x < rx and y < ry]
    area = 0.0
    ceiling = ry
    for x, y in pareto_front(inside):
        # front sorted by x ascending, y descending: each point adds a slab below the last y.
        area += (rx - x) * (ceiling - y)
        ceiling = y
    return area
