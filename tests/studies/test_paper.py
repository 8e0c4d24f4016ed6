"""The paper experiments in quick mode: output files, structure and basic sanity.

Each experiment runs once per module (module-scoped fixtures) on the real bundled data,
subsampled by its ``quick`` preset; the tests then read what it wrote.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
import pytest
import torch

from shrinknets_core.datasets import load_dataset
from shrinknets_core.errors import ConfigError
from studies.arms import ARMS
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
from studies.paper._report import ReportWriter, png_exporter_status, publish
from studies.paper._single_layer import fit_group_lasso, group_lambda_max
from studies.spec import load_spec


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
    assert {"gamma.csv", "gamma_runs.csv", "gamma_minibatch.html",
            "gamma_authors.html"} <= set(summary["files"])
    _check_offline_html(out / "gamma_authors.html")
    runs = _rows(out / "gamma_runs.csv")
    # minibatch: one start (β₀ = 1 makes both starts the same run); authors: both starts
    per_case = cfg.n_gammas * (1 + len(cfg.mean_starts))
    assert len(runs) == len(cfg.datasets) * len(cfg.lams) * cfg.repeats * per_case
    assert {(r["regime"], r["mean_start"]) for r in runs} == {
        ("minibatch", "sign"), ("authors", "sign"), ("authors", "positive")}
    for r in runs:
        assert float(r["cost_inputs"]) <= float(r["baseline_cost_inputs"]) + 1e-9
        assert float(r["rel_cost"]) <= 1.0 + 1e-9
        assert float(r["rel_loss"]) > 0
    assert {int(r["steps"]) for r in runs if r["regime"] == "authors"} == {cfg.authors_steps}
    assert {int(r["steps"]) for r in runs if r["regime"] == "minibatch"} == {
        cfg.epochs * cfg.batches_per_epoch}
    agg = _rows(out / "gamma.csv")
    assert len(agg) == len(cfg.datasets) * len(cfg.lams) * per_case
    for key, result in summary["results"].items():
        # γ = 0 removes something; the least aggressive γ removes no more than it
        assert result["most_aggressive"]["rel_cost_mean"] < 1.0, key
        assert (result["most_aggressive"]["rel_cost_mean"]
                <= result["least_aggressive"]["rel_cost_mean"]), key
    assert "stand-in for scm1d" in summary["results"][
        "minibatch/scm1d/lam=0.1/start=sign"]["label"]
    # the two starts train differently once β₀ ~ N(0, 1) has negative entries
    sign, positive = ([float(r["cost_inputs"]) for r in runs if r["regime"] == "authors"
                       and r["mean_start"] == start] for start in ("sign", "positive"))
    assert sign != positive


def test_the_authors_regime_is_full_batch_adagrad_with_normal_switches() -> None:
    cfg = GammaConfig.preset("quick")
    authors = cfg.train_config("authors", 233, 0, lam=0.1, gamma=0.9, mean_start="positive")
    assert (authors.optimizer, authors.batch_size, authors.lam2) == ("adagrad", 233, 1e-8)
    assert authors.epochs == cfg.authors_steps and authors.sign_mean_start == "positive"
    assert authors.beta_optimizer == "same" and authors.dead_rule == "sign_variance"
    mini = cfg.train_config("minibatch", 233, 0, lam=0.1, gamma=None)
    assert (mini.optimizer, mini.batch_size, mini.dead_rule) == ("adam", 12, "none")
    with pytest.raises(ConfigError, match=r"GammaConfig\.regimes=.*'minibatch', 'authors'"):
        GammaConfig(regimes=("online",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"GammaConfig\.mean_starts"):
        GammaConfig(mean_starts=("zero",))  # type: ignore[arg-type]


# -- §6.3 dynamics ---------------------------------------------------------------------------


def test_dynamics_histories_shrink_monotonically(tmp_path: Path) -> None:
    cfg = DynamicsConfig.preset("quick", seeds=(0, 1))
    summary = run_dynamics(tmp_path, cfg, progress_bar=False, png=False)
    assert {"dynamics.csv", "dynamics_mlp.html", "dynamics_cnn.html"} <= set(summary["files"])
    _check_offline_html(tmp_path / "dynamics_cnn.html")
    rows = _rows(tmp_path / "dynamics.csv")
    assert len(rows) == len(cfg.seeds) * 2 * len(cfg.lams) * cfg.epochs
    for seed, model, lam in itertools.product(cfg.seeds, ("mlp", "cnn"), cfg.lams):
        hist = [r for r in rows if r["model"] == model and float(r["lam"]) == lam
                and int(r["seed"]) == seed]
        widths = [[int(w) for w in r["widths"].split(";")] for r in hist]
        assert all(
            all(b <= a for a, b in zip(w0, w1, strict=True))
            for w0, w1 in itertools.pairwise(widths)
        )
        betas = [[float(b) for b in r["mean_abs_beta"].split(";")] for r in hist]
        assert all(len(b) == len(w) for b, w in zip(betas, widths, strict=True))
        assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 for r in hist)
    finals = {(f["model"], f["lam"], f["seed"]): f for f in summary["final"]}
    assert finals[("mlp", 0.0, 0)]["final_widths"] == list(cfg.mlp_hidden)
    assert finals[("mlp", 0.0, 1)]["cost_macs_vs_dense"] == 1.0
    assert sum(finals[("mlp", max(cfg.lams), 0)]["final_widths"]) < sum(cfg.mlp_hidden)
    agg = {(a["model"], a["lam"]): a for a in summary["per_lambda"]}
    assert agg[("cnn", 0.0)]["seeds"] == 2 and agg[("cnn", 0.0)]["first_death_epoch"] == [None] * 2


# -- §6.4 hyper-optimisation ---------------------------------------------------------------


def test_hyperopt_compares_every_arm_on_equal_compute(tmp_path: Path) -> None:
    cfg = HyperoptConfig.preset("quick")
    summary = run_hyperopt(tmp_path, cfg, progress_bar=False, png=False)
    assert {"size_space.html", "pareto.html", "compute.html"} <= set(summary["files"])
    _check_offline_html(tmp_path / "size_space.html")
    assert (tmp_path / "comparison_digits_seed0" / "comparison.json").exists()
    assert summary["arms"] == [*ARMS, "lambda[none/uniform]"]
    names = {s.study_name for s in optuna.get_all_study_summaries(summary["storage"])}
    assert names == {f"paper-hyperopt-digits-0-{arm}" for arm in ARMS} | {
        "paper-hyperopt-digits-0-lambda_none_uniform"}
    arms = {r["arm"]: r for r in _rows(tmp_path / "hyperopt_arms.csv")}
    assert set(arms) == set(summary["arms"])
    macs = {a: float(r["macs"]) for a, r in arms.items()}
    # one budget for every arm; only a trial that started before it ran out may overshoot
    # it: by one training of the full-width net, or for λ search the trial that trained
    # the shared warm-up too (the warm-up's epochs + its own, a full-width bound)
    study = optuna.load_study(study_name="paper-hyperopt-digits-0-width",
                              storage=summary["storage"])
    spec = study.user_attrs["spec"]
    budget = spec["search"]["max_macs"]
    full = budget / cfg.budget
    training = spec["training"]
    warm, lam, tune = load_spec(spec).search.warm_start.epochs(training["epochs"])
    warm_trial = full * (warm + math.ceil(lam) + tune) / (
        training["epochs"] + training["finetune_epochs"])
    for arm, m in macs.items():
        limit = budget + (warm_trial if arm.startswith("lambda[") or arm == "lambda" else full)
        assert 0 < m <= limit, (arm, m, limit)
    assert int(arms["width"]["trials"]) > 1
    aggregate = summary["aggregate"]
    assert set(aggregate["reached"]) == set(summary["arms"])
    assert aggregate["reached"]["width"] == "1/1"  # the level is width search's own
    trials = _rows(tmp_path / "hyperopt_trials.csv")
    assert {r["dataset"] for r in trials} == {"digits"}


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


def test_publish_puts_every_experiment_in_one_flat_folder(tmp_path: Path) -> None:
    pub = tmp_path / "figures"
    for name in ("dynamics", "gamma"):
        code = main([name, "--out", str(tmp_path / name), "--quick", "--no-png",
                     "--no-progress", "--publish", str(pub)])
        assert code == 0
    names = {p.name for p in pub.iterdir()}
    assert {"dynamics_summary.json", "gamma_summary.json", "dynamics_mlp.html",
            "dynamics_final.csv", "gamma_authors.html", "gamma_runs.csv",
            "plotly.min.js"} <= names
    assert "summary.json" not in names
    assert all((pub / n).is_file() for n in names)
    _check_offline_html(pub / "gamma_authors.html")
    summary = json.loads((pub / "gamma_summary.json").read_text())
    assert summary["preset"] == "quick" and summary["experiment"] == "gamma"


def test_publish_leaves_databases_and_folders_behind(tmp_path: Path) -> None:
    out = tmp_path / "run"
    report = ReportWriter(out, experiment="hyperopt", png=False)
    report.figure("size_space", go.Figure(go.Scatter(x=[1], y=[1])))
    report.csv("hyperopt_arms", [{"arm": "width"}])
    (out / "hyperopt.db").write_bytes(b"SQLite")
    (out / "comparison_digits_seed0").mkdir()
    report.files["comparison_digits_seed0/"] = "folder"
    summary = report.summary({})
    copied = publish(out, summary, tmp_path / "figures")
    assert sorted(p.name for p in copied) == [
        "hyperopt_arms.csv", "hyperopt_summary.json", "plotly.min.js", "size_space.html"]


def test_the_dynamics_mlp_can_take_a_batchnorm_before_each_switch() -> None:
    data = load_dataset("digits", seed=0)
    plain = DynamicsConfig.preset("quick").spec("mlp", data)
    normed = DynamicsConfig.preset("quick", mlp_batchnorm=True).spec("mlp", data)
    assert not plain.batchnorm and normed.batchnorm
    assert DynamicsConfig.preset("quick").spec("cnn", data).kind == "cnn"
