"""compare_studies on synthetic finished trials, checked against hand-computed numbers."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import optuna
import pytest
from _study_helpers import lambda_trial, pruned_trial, width_trial
from hypothesis import given, settings
from hypothesis import strategies as st

from studies.compare import compare_studies, summarise
from studies.pareto import hypervolume

# λ side: (loss 0.5, 100 params) then (0.3, 300), 10 MACs each.
LAMBDA = [
    lambda_trial(0, 0.5, 0.1, [(20, 10), (8, 4)], 100, 10.0),
    lambda_trial(1, 0.3, 0.01, [(40, 30), (30, 20)], 300, 10.0),
]
# width side: (0.4, 200), a pruned trial (5 MACs), then (0.2, 1000); 30 MACs per full trial.
WIDTH = [
    width_trial(0, 0.4, (10, 10), 200, 30.0),
    pruned_trial(1, 5.0),
    width_trial(2, 0.2, (30, 25), 1000, 30.0),
]


def test_fronts_reference_and_hypervolumes() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    assert c.reference == pytest.approx((0.55, 1101.0))
    assert c.a.front == [(0.3, 300), (0.5, 100)]
    assert c.b.front == [(0.2, 1000), (0.4, 200)]
    # (0.55-0.3)(1101-300) + (0.55-0.5)(300-100)
    assert c.a.hypervolume == pytest.approx(210.25)
    # (0.55-0.2)(1101-1000) + (0.55-0.4)(1000-200)
    assert c.b.hypervolume == pytest.approx(155.35)
    assert c.hypervolume_ratio == pytest.approx(210.25 / 155.35)
    assert c.a.best_val_loss == 0.3 and c.b.best_val_loss == 0.2


def test_curves_count_pruned_compute_and_compute_to_reach() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    assert [p.cumulative_cost_macs for p in c.b.curve] == [30.0, 35.0, 65.0]
    assert [p.best_val_loss for p in c.b.curve] == [0.4, 0.4, 0.2]
    assert [p.hypervolume for p in c.a.curve] == pytest.approx([50.05, 210.25])
    assert c.compute_a_to_reach_b == pytest.approx(
        {"cost_macs": 20.0, "wall_time_s": 0.2, "trials": 2.0}
    )
    assert c.compute_b_to_reach_a is None  # width search never reaches 210.25


def test_write_json_csv_and_offline_html(tmp_path: Path) -> None:
    study_a = optuna.create_study()
    study_b = optuna.create_study()
    for t in LAMBDA:
        study_a.add_trial(t)
    for t in WIDTH:
        study_b.add_trial(t)
    study_a.set_user_attr("label", "λ search")
    study_b.set_user_attr("label", "width search")
    paths = compare_studies(study_a, study_b).write(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["a"]["label"] == "λ search"
    assert data["hypervolume_ratio_a_over_b"] == pytest.approx(210.25 / 155.35)
    assert data["compute_b_to_reach_a"] is None
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 5
    assert {r["study"] for r in rows} == {"λ search", "width search"}
    page = paths["html"].read_text()
    # no external script: plotly.js is inlined (its bundle merely mentions a CDN for geo maps)
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js embedded


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.01, 3.0), st.integers(1, 5000), st.booleans()),
        min_size=1, max_size=25,
    )
)
def test_curve_hypervolume_equals_the_hypervolume_of_every_prefix(
    trials: list[tuple[float, int, bool]],
) -> None:
    """The curve updates the hypervolume only when a trial enters the front; each point
    must still equal the hypervolume of all complete trials up to it."""
    made = [
        pruned_trial(i, 1.0) if pruned else width_trial(i, loss, (8, 8), params, 10.0)
        for i, (loss, params, pruned) in enumerate(trials)
    ]
    reference = (4.0, 6000.0)
    curve = summarise(made, reference).curve
    for k, point in enumerate(curve):
        done = [(loss, params) for loss, params, pruned in trials[: k + 1] if not pruned]
        assert point.hypervolume == pytest.approx(hypervolume(done, reference))
