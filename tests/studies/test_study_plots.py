"""Plot figures: the expected traces, names and coordinates."""

from __future__ import annotations

import json

import optuna
import pytest
from _study_helpers import lambda_trial, pruned_trial, width_trial

from studies.plots import (
    PLOTS,
    compute_figure,
    lambda_figure,
    pareto_figure,
    size_space_figure,
    widths_figure,
)

LAMBDA = [
    lambda_trial(0, 0.5, 0.1, [(20, 10), (8, 4)], 100, 10.0),
    lambda_trial(1, 0.3, 0.01, [(40, 30), (30, 20)], 300, 10.0),
]
WIDTH = [
    width_trial(0, 0.4, (10, 10), 200, 30.0),
    pruned_trial(1, 5.0),
    width_trial(2, 0.2, (30, 25), 1000, 30.0),
]


def _study(trials: list[optuna.trial.FrozenTrial], label: str) -> optuna.Study:
    study = optuna.create_study()
    for t in trials:
        study.add_trial(t)
    study.set_user_attr("label", label)
    return study


def test_size_space_paths_points_and_end_points() -> None:
    fig = size_space_figure(_study(LAMBDA, "λ search"), _study(WIDTH, "width search"))
    names = [t.name for t in fig.data]
    assert names == [
        "λ search: λ trajectories",
        "λ search: end points by λ",
        "width search: width trials",
    ]
    paths = fig.data[0]  # every trajectory in one trace, sorted by λ (0.01 first), split by gaps
    assert list(paths.x) == [64, 40, 30, None, 64, 20, 8]
    assert list(paths.y) == [64, 30, 20, None, 64, 10, 4]
    assert "epoch 0" in paths.text[0] and "λ = 0.01" in paths.text[0]
    assert paths.text[3] is None and "λ = 0.1" in paths.text[4]
    ends = fig.data[1]
    assert list(ends.x) == [30, 8] and list(ends.y) == [20, 4]  # joined in λ order
    assert "λ = 0.01" in ends.text[0] and "params 300" in ends.text[0]
    points = fig.data[2]
    assert list(points.x) == [10, 30] and list(points.marker.color) == [0.4, 0.2]
    json.loads(fig.to_json())


def test_size_space_without_two_layers_says_so() -> None:
    fig = size_space_figure([])
    assert len(fig.data) == 0
    assert "two hidden layers" in fig.layout.annotations[0].text


def test_pareto_compute_widths_lambda_figures() -> None:
    a, b = _study(LAMBDA, "λ search"), _study(WIDTH, "width search")
    pareto = pareto_figure(a, b)
    assert [t.name for t in pareto.data] == [
        "λ search: trials",
        "λ search: Pareto front",
        "width search: trials",
        "width search: Pareto front",
    ]
    assert list(pareto.data[3].x) == [1000, 200]
    compute = compute_figure(a, b)
    assert [t.name for t in compute.data] == [
        "λ search: hypervolume",
        "λ search: best loss",
        "width search: hypervolume",
        "width search: best loss",
    ]
    assert list(compute.data[2].x) == [30.0, 35.0, 65.0]
    wall = compute_figure(a, b, cost="wall")
    assert list(wall.data[2].x) == pytest.approx([0.3, 0.35, 0.65])
    widths = widths_figure(a, b)
    # one trace per study and layer; each trial's line split from the next by a gap
    assert [t.name for t in widths.data] == [
        "λ search: layer 1", "λ search: layer 2", "width search: layer 1", "width search: layer 2"
    ]
    assert list(widths.data[0].y) == [64, 20, 8, None, 64, 40, 30]
    assert list(widths.data[0].x) == [0, 1, 2, None, 0, 1, 2]
    assert list(widths.data[0].customdata[:4]) == ["trial 0 (λ=0.1)"] * 3 + [None]
    assert list(widths.data[3].y) == [10, 10, 10, None, 25, 25, 25]  # the pruned one has none
    lam = lambda_figure(a, b)
    assert [t.name for t in lam.data] == ["λ search: val loss", "λ search: params"]
    assert list(lam.data[0].x) == [0.01, 0.1]
    # every log axis writes its ticks as numbers (no bare "2 5" between decades)
    for figure in (pareto, compute, widths, lam, size_space_figure(a, b)):
        layout = figure.to_plotly_json()["layout"]
        axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
        logs = [ax for ax in axes if ax.get("type") == "log"]
        assert logs and all(ax.get("tickformat") in ("~g", ".3~s") for ax in logs), axes


def test_plots_registry() -> None:
    assert set(PLOTS) == {"size_space", "pareto", "compute", "widths", "lambda"}
    for fn in PLOTS.values():
        fig = fn(LAMBDA)
        assert fig.to_json()


def test_equal_labels_get_study_names() -> None:
    a, b = _study(LAMBDA, "λ search"), _study(LAMBDA, "λ search")
    names = [t.name for t in lambda_figure(a, b).data]
    assert names[0] == f"λ search ({a.study_name}): val loss"
    assert names[2] == f"λ search ({b.study_name}): val loss"


def test_narrow_log_axes_get_ticks_that_do_not_crowd() -> None:
    from studies._figure import Figure
    from studies.plots import fit_log_ticks, log_axis

    def ticks(values: list[float]) -> list[float]:
        fig = Figure({"xaxis": log_axis("width", narrow=True)})
        fig.add_trace({"x": values, "y": values})
        return list(fit_log_ticks(fig).layout.xaxis.tickvals)

    assert ticks([1, 4, 80]) == [1, 2, 5, 10, 20, 50, 100], "no 0.8 or 0.9 on a width axis"
    assert ticks([3, 7]) == [3, 4, 5, 6, 7, 8, 9], "within a decade, every digit"
    assert ticks([1, 5000]) == [1, 10, 100, 1000], "beyond three decades, powers of ten"
    assert ticks([0.012, 0.08]) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
    sizes = size_space_figure(_study(LAMBDA, "λ search"), _study(WIDTH, "width search"))
    layout = sizes.to_plotly_json()["layout"]
    assert min(layout["xaxis"]["tickvals"]) >= 1 and min(layout["yaxis"]["tickvals"]) >= 1
    assert layout["coloraxis"]["colorscale"], "the loss scale is in the layout (dark theme)"
