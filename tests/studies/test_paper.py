"""The paper experiments in quick mode: output files, structure and basic sanity.

Each experiment runs once per module (module-scoped fixtures) on the real bundled data,
subsampled by its ``quick`` preset; the tests then read what it wrote.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
import pytest
import torch

from shrinknets_core.datasets import load_dataset
from shrinknets_core.errors import ConfigError
from studies.paper import (
    DynamicsConfig,
    GammaConfig,
    HyperoptConfig,
    TradeoffConfig,
    gamma_values,
    main,
    run_dynamics,
    run_gamma,
    run_hyperopt,
    run_tradeoff,
)
from studies.paper._report import ReportWriter, png_exporter_status
from studies.paper._single_layer import fit_group_lasso, group_lambda_max


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (and do not fight other tests for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _check_offline_html(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    assert "cdn.plot.ly" not in html and "https://cdn" not in html
    assert 'src="plotly.min.js"' in html
    assert (path.parent / "plotly.min.js").stat().st_size > 1_000_000


# -- §6.1 trade-off ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tradeoff(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tradeoff")
    summary = run_tradeoff(out, TradeoffConfig.preset("quick"), progress_bar=False, png=False)
    return out, summary


def test_tradeoff_writes_files_and_labels_stand_ins(tradeoff: tuple[Path, dict[str, Any]]) -> None:
    out, summary = tradeoff
    assert {"tradeoff.csv", "tradeoff.html"} <= set(summary["files"])
    assert json.loads((out / "summary.json").read_text()) == summary
    _check_offline_html(out / "tradeoff.html")
    labels = {d["paper_name"]: d["label"] for d in summary["datasets"]}
    assert set(labels) == {"scm1d", "oes97", "gina_prior2", "gsadd"}
    assert "stand-in for scm1d" in labels["scm1d"]
    assert "stand-in for gina_prior2" in labels["gina_prior2"]
    assert "partial" in labels["gsadd"]
    html = (out / "tradeoff.html").read_text(encoding="utf-8")
    assert "stand-in for scm1d" in html
    rows = _rows(out / "tradeoff.csv")
    assert {r["method"] for r in rows} == {"shrinknets", "group_sparsity"}
    assert all("stand-in" in r["dataset_label"] for r in rows if r["paper_dataset"] == "scm1d")


def test_tradeoff_normalised_loss_in_unit_interval(tradeoff: tuple[Path, dict[str, Any]]) -> None:
    rows = _rows(tradeoff[0] / "tradeoff.csv")
    for name in {r["paper_dataset"] for r in rows}:
        losses = [float(r["normalised_loss"]) for r in rows if r["paper_dataset"] == name]
        assert min(losses) == pytest.approx(0.0, abs=1e-9)
        assert max(losses) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= v <= 1.0 for v in losses)


def test_tradeoff_sparsity_rises_with_lambda(tradeoff: tuple[Path, dict[str, Any]]) -> None:
    rows = _rows(tradeoff[0] / "tradeoff.csv")
    for name in {r["paper_dataset"] for r in rows}:
        for method in ("shrinknets", "group_sparsity"):
            runs = sorted(
                (r for r in rows if r["paper_dataset"] == name and r["method"] == method),
                key=lambda r: float(r["lam"]),
            )
            sp = [float(r["sparsity"]) for r in runs]
            half = len(sp) // 2
            assert sum(sp[half:]) / (len(sp) - half) > sum(sp[:half]) / half, (name, method, sp)
            assert sp[-1] >= 0.9 and sp[0] <= 0.5, (name, method, sp)


def test_group_lasso_prox_is_exact() -> None:
    data = load_dataset("oes97", seed=0)
    lam_max = group_lambda_max(data)
    dead = fit_group_lasso(data, lam=1.01 * lam_max, steps=200)
    assert bool((dead.weight == 0).all())
    alive = fit_group_lasso(data, lam=0.9 * lam_max, steps=200)
    assert 0 < int((alive.weight.abs().sum(dim=0) > 0).sum()) < data.n_features


# -- §6.2 γ --------------------------------------------------------------------------------


def test_gamma_values_follow_the_paper() -> None:
    values = gamma_values(15)
    assert len(values) == 15
    assert values[0] == (0.0, 0.0)
    assert values[-1][0] == 5.0 and values[-1][1] == pytest.approx(0.99999)
    assert all(a[1] < b[1] for a, b in itertools.pairwise(values))


@pytest.fixture(scope="module")
def gamma(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gamma")
    summary = run_gamma(out, GammaConfig.preset("quick"), progress_bar=False, png=False)
    return out, summary


def test_gamma_outputs_and_removal_never_costs_more(gamma: tuple[Path, dict[str, Any]]) -> None:
    out, summary = gamma
    cfg = GammaConfig.preset("quick")
    assert {"gamma.csv", "gamma_runs.csv", "gamma.html"} <= set(summary["files"])
    _check_offline_html(out / "gamma.html")
    runs = _rows(out / "gamma_runs.csv")
    assert len(runs) == len(cfg.datasets) * cfg.repeats * cfg.n_gammas
    for r in runs:
        assert float(r["cost_inputs"]) <= float(r["baseline_cost_inputs"]) + 1e-9
        assert float(r["rel_cost"]) <= 1.0 + 1e-9
        assert float(r["rel_loss"]) > 0
    agg = _rows(out / "gamma.csv")
    assert len(agg) == len(cfg.datasets) * cfg.n_gammas
    for name in cfg.datasets:
        rows = [r for r in agg if r["paper_dataset"] == name]
        # γ = 0 removes something; the least aggressive γ removes no more than it
        assert float(rows[0]["rel_cost_mean"]) < 1.0
        assert float(rows[0]["rel_cost_mean"]) <= float(rows[-1]["rel_cost_mean"])
    assert "stand-in for scm1d" in summary["results"]["scm1d"]["label"]


# -- §6.3 dynamics ---------------------------------------------------------------------------


def test_dynamics_histories_shrink_monotonically(tmp_path: Path) -> None:
    cfg = DynamicsConfig.preset("quick")
    summary = run_dynamics(tmp_path, cfg, progress_bar=False, png=False)
    assert {"dynamics.csv", "dynamics_mlp.html", "dynamics_cnn.html"} <= set(summary["files"])
    _check_offline_html(tmp_path / "dynamics_cnn.html")
    rows = _rows(tmp_path / "dynamics.csv")
    assert len(rows) == 2 * len(cfg.lams) * cfg.epochs
    for model in ("mlp", "cnn"):
        for lam in cfg.lams:
            hist = [r for r in rows if r["model"] == model and float(r["lam"]) == lam]
            widths = [[int(w) for w in r["widths"].split(";")] for r in hist]
            assert all(
                all(b <= a for a, b in zip(w0, w1, strict=True))
                for w0, w1 in itertools.pairwise(widths)
            )
            assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 for r in hist)
    finals = {(f["model"], f["lam"]): f for f in summary["final"]}
    assert finals[("mlp", 0.0)]["final_widths"] == list(cfg.mlp_hidden)
    assert sum(finals[("mlp", max(cfg.lams))]["final_widths"]) < sum(cfg.mlp_hidden)


# -- §6.4 hyper-optimisation ---------------------------------------------------------------


def test_hyperopt_compares_searches_on_the_same_budget(tmp_path: Path) -> None:
    cfg = HyperoptConfig.preset("quick")
    summary = run_hyperopt(tmp_path, cfg, progress_bar=False, png=False)
    assert {"size_space.html", "pareto.html", "compute.html"} <= set(summary["files"])
    _check_offline_html(tmp_path / "size_space.html")
    (seed,) = summary["seeds"]
    assert seed["lambda_search"]["n_complete"] == cfg.n_trials
    assert seed["width_search"]["n_complete"] == cfg.n_trials
    assert seed["lambda_search"]["hypervolume"] > 0
    assert (tmp_path / "comparison_seed0" / "comparison.json").exists()
    names = {s.study_name for s in optuna.get_all_study_summaries(summary["storage"])}
    assert names == {"paper-hyperopt-lambda-seed0", "paper-hyperopt-width-seed0"}
    trials = _rows(tmp_path / "hyperopt_trials.csv")
    assert {r["kind"] for r in trials} == {"lambda", "width"}


# -- CLI and report --------------------------------------------------------------------------


def test_cli_runs_one_dataset_with_overrides(tmp_path: Path) -> None:
    code = main(
        [
            "tradeoff",
            "--out",
            str(tmp_path),
            "--quick",
            "--no-png",
            "--no-progress",
            "--set",
            'datasets=["oes97"]',
            "--set",
            "n_lambdas=3",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [d["paper_name"] for d in summary["datasets"]] == ["oes97"]
    assert summary["config"]["n_lambdas"] == 3
    assert summary["preset"] == "quick"
    assert summary["overrides"] == {"datasets": ["oes97"], "n_lambdas": 3}


def test_cli_rejects_unknown_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gamma", "--out", str(tmp_path), "--quick", "--set", "repeets=3"])
    assert code == 2
    assert "no field 'repeets'" in capsys.readouterr().err


def test_png_export_when_an_exporter_works(tmp_path: Path) -> None:
    report = ReportWriter(tmp_path, experiment="t", png=None)
    report.figure("fig", go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))
    if png_exporter_status() is None:
        assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert report.png_note and not (tmp_path / "fig.png").exists()
    assert (tmp_path / "fig.html").exists()


def test_configs_name_the_bad_field() -> None:
    with pytest.raises(ConfigError, match=r"TradeoffConfig\.n_lambdas=1 is invalid; .* >= 2"):
        TradeoffConfig(n_lambdas=1)
    with pytest.raises(ConfigError, match=r"GammaConfig\.datasets=\('gsadd',\)"):
        GammaConfig(datasets=("gsadd",))  # γ runs on the regression datasets only
    with pytest.raises(ConfigError, match=r"HyperoptConfig\.seeds=\(\)"):
        HyperoptConfig(seeds=())
