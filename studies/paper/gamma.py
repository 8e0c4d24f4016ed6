"""§6.2 / Fig. 2: how the removal aggressiveness γ trades final loss against training cost.

γ = 1 − 10^(−t) for t evenly spaced in [0, 5] (t = 0 is γ = 0, kill at the first sign
flip; t = 5 is γ = 0.99999, almost never kill). For each dataset and repeat, one baseline
trains the same input-gated linear model with the same seed but without removal (no dead
rule, all inputs kept: the paper's "theoretical lower bound"); each γ run trains with the
sign-variance rule and live removal. We report the final validation loss and the paper's
cost (Σ over epochs of live inputs) divided by the baseline's, mean ± 1 std over repeats.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from shrinknets_core.datasets import Dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import TrainConfig, Trainer, TrainResult

from ._common import (
    Preset,
    check_datasets,
    check_preset,
    load_paper_dataset,
    progress,
    require,
)
from ._report import ReportWriter

__all__ = ["GammaConfig", "gamma_values", "run_gamma"]

_TICKS = (0, 1, 2, 3, 4, 5)


def gamma_values(n: int, t_max: float = 5.0) -> list[tuple[float, float]]:
    """``(t, γ)`` pairs with γ = 1 − 10^(−t), t evenly spaced in ``[0, t_max]``."""
    return [(float(t), float(1.0 - 10.0 ** (-t))) for t in np.linspace(0.0, t_max, n)]


@dataclass(frozen=True)
class GammaConfig:
    """Settings of the γ experiment (see :meth:`preset`).

    Attributes:
        datasets: Paper dataset names (regression: ``scm1d``, ``oes97``).
        lam: λ of the switch penalty (the paper: 0.1).
        n_gammas: Number of t values in [0, 5] (the paper: 15).
        repeats: Repeats per (dataset, γ) with seeds 0..repeats−1 (the paper: 30).
        epochs, optimizer, lr, lam2: Training settings shared by all runs.
        batches_per_epoch: Optimizer steps per epoch; the batch size is
            ``ceil(n_train / batches_per_epoch)`` so both datasets (233 and 6,276 training
            rows) get the same number of steps, and β the same time to reach zero.
        beta_optimizer: ``"same"`` (β in Adam, the authors' setup for which the
            sign-variance rule was designed) or ``"prox"``.
        max_rows: Subsample each dataset (None = all rows).
        split_seed: Seed of the train/val/test split (the same for all repeats).
        user_files: Paper name → user-supplied file.
    """

    datasets: tuple[str, ...] = ("scm1d", "oes97")
    lam: float = 0.1
    n_gammas: int = 15
    repeats: int = 30
    epochs: int = 30
    batches_per_epoch: int = 20
    optimizer: Literal["adam", "sgd", "adamw", "adagrad"] = "adam"
    lr: float = 1e-2
    lam2: float = 1e-4
    beta_optimizer: Literal["prox", "same"] = "same"
    max_rows: int | None = None
    split_seed: int = 0
    user_files: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_datasets(self, self.datasets, task="regression")
        for name in ("n_gammas", "repeats", "epochs", "batches_per_epoch"):
            require(self, name, getattr(self, name) >= 1, ">= 1")
        require(self, "lam", self.lam > 0, "> 0")
        require(self, "lr", self.lr > 0, "> 0")

    @classmethod
    def preset(cls, name: Preset, **overrides: Any) -> GammaConfig:
        """``quick`` (tests), ``reduced`` (minutes) or ``full`` (the paper's 15 × 30)."""
        check_preset(name)
        base = cls()
        if name == "quick":
            base = replace(base, n_gammas=4, repeats=2, epochs=6, lr=5e-2, max_rows=400)
        elif name == "reduced":
            base = replace(base, repeats=5, epochs=20)
        return replace(base, **overrides)

    def train_config(self, n_train: int, seed: int, gamma: float | None) -> TrainConfig:
        """The trainer settings of one run; ``gamma=None`` is the no-removal baseline."""
        removal = gamma is not None
        return TrainConfig(
            epochs=self.epochs, batch_size=math.ceil(n_train / self.batches_per_epoch),
            optimizer=self.optimizer,
            lr=self.lr, lam=self.lam, lam2=self.lam2, penalty="shrink",
            beta_optimizer=self.beta_optimizer,
            dead_rule="sign_variance" if removal else "none",
            gamma=gamma if gamma is not None else 0.99, removal=removal,
            device="cpu", seed=seed,
        )


def _train(data: Dataset, cfg: GammaConfig, seed: int, gamma: float | None) -> TrainResult:
    spec = ModelSpec(kind="linear", in_features=data.n_features, out_features=data.n_outputs)
    model = build_model(spec, seed=seed)
    return Trainer(model, data, cfg.train_config(int(data.x_train.shape[0]), seed, gamma)).fit()


def _aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (ddof=0) over repeats per (dataset, t)."""
    out = []
    keys = sorted({(r["paper_dataset"], r["t"]) for r in runs})
    for name, t in keys:
        group = [r for r in runs if r["paper_dataset"] == name and r["t"] == t]
        row: dict[str, Any] = {k: group[0][k] for k in
                               ("paper_dataset", "dataset_label", "stand_in", "lam", "t", "gamma")}
        for field in ("rel_loss", "loss_diff", "rel_cost", "final_live_inputs"):
            values = np.array([r[field] for r in group], dtype=float)
            row[f"{field}_mean"] = float(values.mean())
            row[f"{field}_std"] = float(values.std())
        row["repeats"] = len(group)
        out.append(row)
    return out


def _band(fig: go.Figure, rows: list[dict[str, Any]], field: str, colour: str, *, row: int,
          col: int, name: str, legend: bool) -> None:
    t = [r["t"] for r in rows]
    mean = np.array([r[f"{field}_mean"] for r in rows])
    std = np.array([r[f"{field}_std"] for r in rows])
    fig.add_trace(go.Scatter(x=t + t[::-1], y=list(mean + std) + list((mean - std)[::-1]),
                             fill="toself", fillcolor=colour, opacity=0.2, line={"width": 0},
                             hoverinfo="skip", showlegend=False), row=row, col=col)
    fig.add_trace(go.Scatter(
        x=t, y=mean, mode="lines+markers", name=name, showlegend=legend,
        line={"color": colour}, customdata=[[r["gamma"], r[f"{field}_std"]] for r in rows],
        hovertemplate="t=%{x:.2f} (γ=%{customdata[0]:.6f})<br>mean=%{y:.4f} "
                      "± %{customdata[1]:.4f}"), row=row, col=col)


def _figure(agg: list[dict[str, Any]], infos: list[dict[str, Any]], lam: float) -> go.Figure:
    titles = []
    for info in infos:
        titles += [f"{info['short_label']}, λ={lam}<br>final val loss / no-removal baseline",
                   f"{info['short_label']}, λ={lam}<br>cost (Σ live inputs) / baseline"]
    fig = make_subplots(rows=len(infos), cols=2, subplot_titles=titles)
    for k, info in enumerate(infos):
        rows = [r for r in agg if r["paper_dataset"] == info["paper_name"]]
        _band(fig, rows, "rel_loss", "#d62728", row=k + 1, col=1,
              name="loss ratio (mean ± 1 std)", legend=k == 0)
        _band(fig, rows, "rel_cost", "#1f77b4", row=k + 1, col=2,
              name="cost ratio (mean ± 1 std)", legend=k == 0)
        for col in (1, 2):
            fig.add_hline(y=1.0, line_dash="dash", line_color="grey", row=k + 1, col=col)
            fig.update_xaxes(title_text="t  (γ = 1 − 10^−t)", tickvals=_TICKS,
                             ticktext=[f"{t}<br>γ={1 - 10.0 ** -t:g}" for t in _TICKS],
                             row=k + 1, col=col)
    fig.update_layout(title="Effect of dynamic neuron removal for different γ (paper §6.2, "
                            "Fig. 2; dashed = no-removal baseline; stand-ins as labelled)",
                      height=420 * len(infos), template="plotly_white",
                      legend={"orientation": "h", "y": -0.12})
    return fig


def run_gamma(out_dir: Path | str, config: GammaConfig, *, progress_bar: bool = True,
              png: bool | None = None) -> dict[str, Any]:
    """Run the experiment; write ``gamma_runs.csv``, ``gamma.csv``, ``gamma.html``, summary.

    Returns:
        The summary dict (also written as ``summary.json``).
    """
    t0 = time.perf_counter()
    report = ReportWriter(out_dir, experiment="gamma", png=png)
    gammas = gamma_values(config.n_gammas)
    runs: list[dict[str, Any]] = []
    infos = []
    total = len(config.datasets) * config.repeats * (len(gammas) + 1)
    with progress(total, "gamma runs", enabled=progress_bar) as bar:
        for name in config.datasets:
            data, info = load_paper_dataset(name, user_files=dict(config.user_files),
                                            seed=config.split_seed, max_rows=config.max_rows)
            infos.append(info)
            for seed in range(config.repeats):
                base = _train(data, config, seed, None)
                bar.update(1)
                for t, gamma in gammas:
                    res = _train(data, config, seed, gamma)
                    bar.update(1)
                    runs.append({
                        "paper_dataset": name, "dataset_label": info["label"],
                        "stand_in": info["stand_in"], "lam": config.lam, "t": t,
                        "gamma": gamma, "repeat": seed, "val_loss": res.val_loss,
                        "test_loss": res.test_loss, "cost_inputs": res.cost_inputs,
                        "final_live_inputs": res.final_widths[0],
                        "baseline_val_loss": base.val_loss,
                        "baseline_cost_inputs": base.cost_inputs,
                        "rel_loss": res.val_loss / base.val_loss,
                        "loss_diff": res.val_loss - base.val_loss,
                        "rel_cost": res.cost_inputs / base.cost_inputs,
                    })
    agg = _aggregate(runs)
    report.csv("gamma_runs", runs)
    report.csv("gamma", agg)
    report.figure("gamma", _figure(agg, infos, config.lam))
    per_dataset = {}
    for info in infos:
        rows = [r for r in agg if r["paper_dataset"] == info["paper_name"]]
        per_dataset[info["paper_name"]] = {
            "label": info["label"],
            "most_aggressive": rows[0],
            "least_aggressive": rows[-1],
            "max_rel_cost_mean": max(r["rel_cost_mean"] for r in rows),
            "max_rel_loss_mean": max(r["rel_loss_mean"] for r in rows),
        }
    summary = {
        "paper_section": "6.2 (Fig. 2)",
        "paper_claim": "γ controls how aggressively neurons are removed; removal lowers the "
                       "training cost (Σ live inputs per epoch) relative to training without "
                       "removal, at some cost in final loss (the draft leaves the "
                       "interpretation as TODO)",
        "loss": "validation MSE on standardised targets of the final network",
        "config": asdict(config),
        "gammas": [{"t": t, "gamma": g} for t, g in gammas],
        "datasets": infos,
        "results": per_dataset,
        "n_runs": len(runs) + len(config.datasets) * config.repeats,
        "wall_time_s": time.perf_counter() - t0,
    }
    return report.summary(summary)
