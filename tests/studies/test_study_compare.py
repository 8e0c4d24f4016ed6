"""compare_studies on synthetic finished trials, checked against hand-computed numbers."""

from __future__ import annotations

import csv
import json
import math
import re
from copy import deepcopy
from pathlib import Path

import optuna
import pytest
from _study_helpers import lambda_trial, pruned_trial, width_trial
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import FrozenTrial

from studies import write_comparison
from studies.compare import UsefulRegion, compare_studies, summarise
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


LOG_REF = math.log10(1.1 * 1101)  # no max_params recorded: 1.1 × the largest net + 1


def test_raw_reference_and_fronts() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    assert c.arm_names == ["lambda", "width"] and c.baseline == "width"
    assert c.raw_reference == pytest.approx((0.55, 1101.0))
    lam, width = c.arm("lambda"), c.arm("width")
    assert lam.front == [(0.3, 300), (0.5, 100)]
    assert width.front == [(0.2, 1000), (0.4, 200)]
    # (0.55-0.3)(1101-300) + (0.55-0.5)(300-100)
    assert lam.raw_hypervolume == pytest.approx(210.25)
    # (0.55-0.2)(1101-1000) + (0.55-0.4)(1000-200)
    assert width.raw_hypervolume == pytest.approx(155.35)
    assert lam.best_val_loss == 0.3 and width.best_val_loss == 0.2
    assert (width.n_complete, width.n_pruned, width.n_finished) == (2, 1, 3)


def test_useful_region_hypervolume_by_hand() -> None:
    """Reference (2 × width's best loss, log10(1.1 × P_max)); points at or above the
    reference loss contribute nothing."""
    c = compare_studies(LAMBDA, WIDTH)
    assert c.region is not None
    assert c.region.loss == pytest.approx(0.4)
    assert c.region.log10_params == pytest.approx(LOG_REF)
    # width: (0.4, 200) sits on the reference loss: only (0.2, 1000) counts
    assert c.arm("width").hypervolume == pytest.approx(0.2 * (LOG_REF - 3))
    # λ: only (0.3, 300) is inside
    assert c.arm("lambda").hypervolume == pytest.approx(0.1 * (LOG_REF - math.log10(300)))
    assert c.level == pytest.approx(c.arm("width").hypervolume)
    assert "2 × width best" in c.reference_text()


def test_test_hypervolume_scores_the_validation_front_by_hand() -> None:
    """The front is chosen on validation; its test losses are scored in the same useful
    region (reference loss 2 × width's best *validation* loss = 0.4)."""
    width = [
        _with_attr(width_trial(0, 0.30, (10, 10), 200, 30.0), test_loss=0.35),
        _with_attr(width_trial(1, 0.20, (30, 25), 1000, 30.0), test_loss=0.25),
        # dominated on validation: its better test loss must not count
        _with_attr(width_trial(2, 0.32, (20, 20), 600, 30.0), test_loss=0.10),
    ]
    lam = [_with_attr(lambda_trial(0, 0.25, 0.1, [(20, 10)], 100, 10.0), test_loss=0.45)]
    c = compare_studies(lam, width)
    ref = math.log10(1.1 * 1101)
    w, a = c.arm("width"), c.arm("lambda")
    # test points (0.25, 1000) and (0.35, 200): slabs (0.4-0.25)(ref-3) + (0.4-0.35)(3-log 200)
    expected = 0.15 * (ref - 3) + 0.05 * (3 - math.log10(200))
    assert w.test_hypervolume == pytest.approx(expected)
    assert w.test_hypervolume == pytest.approx(
        hypervolume([(0.25, 3.0), (0.35, math.log10(200))], (0.4, ref)))
    # λ's one front point has a test loss above the reference: no test volume
    assert a.test_hypervolume == 0.0 and a.hypervolume > 0
    assert [p.test_hypervolume for p in w.curve] == pytest.approx(
        [0.05 * (ref - math.log10(200)), expected, expected])
    assert w.test_hv_at_baseline_compute == pytest.approx(expected)
    assert a.test_hv_at_baseline_compute == 0.0


def test_recorded_max_params_sets_the_size_reference() -> None:
    lam = [_with_attr(t, max_params=5000) for t in LAMBDA]
    c = compare_studies(lam, WIDTH)
    assert c.region is not None and c.region.max_params == 5000
    assert c.region.log10_params == pytest.approx(math.log10(5500))


def test_curves_compute_to_reach_shares_and_hv_at_baseline_compute() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    lam, width = c.arm("lambda"), c.arm("width")
    assert [p.cumulative_cost_macs for p in width.curve] == [30.0, 35.0, 65.0]
    assert [p.best_val_loss for p in width.curve] == [0.4, 0.4, 0.2]
    assert [p.hypervolume for p in lam.curve] == pytest.approx(
        [0.0, 0.1 * (LOG_REF - math.log10(300))]
    )
    assert width.compute_to_reach == pytest.approx(
        {"cost_macs": 65.0, "wall_time_s": 0.65, "trials": 3.0}
    )
    assert lam.compute_to_reach == pytest.approx(
        {"cost_macs": 20.0, "wall_time_s": 0.2, "trials": 2.0}
    )
    assert lam.reached and width.reached
    assert lam.compute_share == pytest.approx(20 / 65) and width.compute_share == 1.0
    assert lam.hv_at_baseline_compute == pytest.approx(lam.hypervolume)


def test_a_miss_counts_total_compute_and_the_sensitivity_shows_it() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    # at 1.5 × 0.2 = 0.3 no λ point is inside: never reached, share = 20 / 65 (a lower bound)
    assert c.sensitivity["1.5"]["lambda"] == pytest.approx(20 / 65)
    tight = compare_studies(LAMBDA, WIDTH, useful_factor=1.4)
    assert not tight.arm("lambda").reached and tight.arm("lambda").hypervolume == 0.0
    assert tight.arm("lambda").compute_share == pytest.approx(20 / 65)
    assert tight.arm("width").hypervolume == pytest.approx(0.08 * (LOG_REF - 3))
    # at 3 × 0.2 = 0.6 every point is inside: λ reaches width's level with its 2nd trial
    loose = compare_studies(LAMBDA, WIDTH, useful_factor=3.0)
    lam_hv = 0.3 * (LOG_REF - math.log10(300)) + 0.1 * (math.log10(300) - 2)
    width_hv = 0.4 * (LOG_REF - 3) + 0.2 * (3 - math.log10(200))
    assert loose.arm("lambda").hypervolume == pytest.approx(lam_hv)
    assert loose.arm("width").hypervolume == pytest.approx(width_hv)
    assert loose.arm("lambda").compute_to_reach["cost_macs"] == 20.0  # type: ignore[index]
    assert c.sensitivity["3"]["lambda"] == pytest.approx(20 / 65)


def test_readouts_best_loss_at_size_and_smallest_good_net() -> None:
    c = compare_studies(LAMBDA, WIDTH)
    lam, width = c.arm("lambda"), c.arm("width")
    assert [r["params_at_most"] for r in lam.best_loss_at_params] == [100, 1000, 1101]
    assert [r["val_loss"] for r in lam.best_loss_at_params] == [0.5, 0.3, 0.3]
    assert [r["val_loss"] for r in width.best_loss_at_params] == [None, 0.2, 0.2]
    # best loss of any arm 0.2: within 10 % only width's 1000-parameter net
    assert width.smallest_within_loss is not None
    assert width.smallest_within_loss["params"] == 1000
    assert lam.smallest_within_loss is None


def test_baseline_and_arms_by_mapping_and_errors() -> None:
    c = compare_studies({"width": WIDTH, "lambda": LAMBDA})
    assert c.arm_names == ["width", "lambda"] and c.baseline == "width"
    c = compare_studies({"lambda": LAMBDA, "lambda_path": LAMBDA}, baseline="lambda")
    assert c.arm("lambda_path").compute_share == 1.0
    with pytest.raises(ValueError, match="baseline 'width' is not one of the arms"):
        compare_studies({"lambda": LAMBDA}, baseline="width")
    with pytest.raises(KeyError, match="no arm 'nope'"):
        c.arm("nope")


def test_no_complete_baseline_trial_means_no_region() -> None:
    c = compare_studies(LAMBDA, [pruned_trial(0, 5.0)])
    assert c.region is None and c.level == 0.0
    assert all(a.hypervolume == 0.0 and a.compute_share is None for a in c.arms)
    assert "no useful region" in c.reference_text()


def test_write_json_csv_and_offline_html(tmp_path: Path) -> None:
    study_a = optuna.create_study()
    study_b = optuna.create_study()
    for t in LAMBDA:
        study_a.add_trial(t)
    for t in WIDTH:
        study_b.add_trial(t)
    study_a.set_user_attr("label", "λ search")
    study_a.set_user_attr("arm", "lambda")
    study_b.set_user_attr("label", "width search")
    study_b.set_user_attr("arm", "width")
    paths = write_comparison(compare_studies(study_a, study_b), tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert [a["label"] for a in data["arms"]] == ["λ search", "width search"]
    assert data["arms"][0]["compute_share"] == pytest.approx(20 / 65)
    assert data["baseline"] == "width" and "useful region" in data["reference"]
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 5
    assert {r["arm"] for r in rows} == {"lambda", "width"}
    assert {r["study"] for r in rows} == {"λ search", "width search"}
    page = paths["html"].read_text()
    # no external script: plotly.js is inlined (its bundle merely mentions a CDN for geo maps)
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js embedded


def _with_attr(trial: FrozenTrial, **attrs: object) -> FrozenTrial:
    copy = deepcopy(trial)
    copy.user_attrs.update(attrs)
    return copy


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
    region = UsefulRegion(2.0, math.log10(6000.0), 2.0, "width", 1.0, 5000)
    curve = summarise(made, region, reference).curve
    for k, point in enumerate(curve):
        done = [(loss, params) for loss, params, pruned in trials[: k + 1] if not pruned]
        assert point.raw_hypervolume == pytest.approx(hypervolume(done, reference))
        logged = [(loss, math.log10(params)) for loss, params in done]
        assert point.hypervolume == pytest.approx(
            hypervolume(logged, (2.0, math.log10(6000.0)))
        )
