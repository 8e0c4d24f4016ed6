"""Pareto fronts and 2-D hypervolume against hand-computed values and a brute-force count."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shrinknets_core.errors import ConfigError
from studies.pareto import hypervolume, pareto_front


def test_front_drops_dominated_ties_and_duplicates() -> None:
    points = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3), (1, 6), (4, 2), (math.nan, 0)]
    assert pareto_front(points) == [(1, 5), (2, 3), (4, 1)]
    assert pareto_front([]) == []


def test_hypervolume_hand_computed() -> None:
    points = [(1, 5), (2, 3), (3, 4), (4, 1)]
    # slabs: (5-1)(6-5) + (5-2)(5-3) + (5-4)(3-1) = 4 + 6 + 2
    assert hypervolume(points, (5, 6)) == pytest.approx(12.0)
    assert hypervolume([(1, 1)], (3, 2)) == pytest.approx(2.0)
    # points outside the reference box add nothing
    assert hypervolume([(6, 0), (0, 7), (5, 1)], (5, 6)) == 0.0
    assert hypervolume([], (1, 1)) == 0.0


def test_bad_reference_and_points_are_named() -> None:
    with pytest.raises(ConfigError, match="reference"):
        hypervolume([(1, 1)], (math.inf, 1))
    with pytest.raises(ConfigError, match="2 objectives"):
        pareto_front([(1, 2, 3)])


def _brute_force(points: list[tuple[int, int]], ref: tuple[int, int]) -> float:
    xs = sorted({x for x, _ in points if x < ref[0]} | {ref[0]})
    ys = sorted({y for _, y in points if y < ref[1]} | {ref[1]})
    area = 0.0
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            if any(px <= x0 and py <= y0 for px, py in points):
                area += (x1 - x0) * (y1 - y0)
    return area


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=12))
def test_hypervolume_equals_cell_count(points: list[tuple[int, int]]) -> None:
    ref = (15, 15)
    assert hypervolume(points, ref) == pytest.approx(_brute_force(points, ref))
    front = pareto_front(points)
    for p in points:  # every point is dominated by (or equal to) a front point
        assert any(f[0] <= p[0] and f[1] <= p[1] for f in front)
