"""§6.2 / Fig. 2: how the removal aggressiveness γ trades final loss against training cost.

γ = 1 − 10^(−t) for t evenly spaced in [0, 5] (t = 0 is γ = 0, kill at the first sign
flip; t = 5 is γ = 0.99999, almost never kill). For each regime, dataset, λ and repeat, one
baseline trains the same input-gated linear model with the same seed but without removal
(no dead rule, all inputs kept: the paper's "theoretical lower bound"); each (sign-mean
start, γ) run trains with the sign-variance rule and live removal. We report the final
validation loss and the paper's cost (Σ over epochs of live inputs) divided by the
baseline's, mean ± 1 std over repeats.

Two training regimes (:data:`REGIMES`), because the conclusion depends on them:

* ``minibatch``: this project's first setup — Adam on 20 minibatches per epoch, λ₂ = 1e-4,
  every β₀ = 1;
* ``authors``: the authors' setup — full-batch Adagrad (one step per epoch), λ₂ = 1e-8,
  β₀ ~ N(0, 1), many steps.

In both, β is trained by the weight optimizer (``beta_optimizer="same"``, the setup the
sign-variance rule was designed for). The rule's running sign mean starts at ``sign(β₀)``
(``"sign"``, the core default) or at +1 (``"positive"``); with β₀ = 1 the two are the same,
with β₀ ~ N(0, 1) they are not (docs/method.md §4).
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
from shrinknets_core.removal.dead import MEAN_STARTS, MeanStart
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

__all__ = ["REGIMES", "GammaConfig", "gamma_values", "run_gamma"]

_TICKS = (0, 1, 2, 3, 4, 5)
Regime = Literal["minibatch", "authors"]
REGIMES: tuple[Regime, ...] = ("minibatch", "authors")
_START_COLOURS = {"sign": "#1f77b4", "positive": "#d62728"}
_PANEL_HEIGHT = 380


def gamma_values(n: int, t_max: float = 5.0) -> list[tuple[float, float]]:
    """``(t, γ)`` pairs with γ = 1 − 10^(−t), t evenly spaced in ``[0, t_max]``."""
    return [(float(t), float(1.0 - 10.0 ** (-t))) for t in np.linspace(0.0, t_max, n)]


@dataclass(frozen=True)
class GammaConfig:
    """Settings of the γ experiment (see :meth:`preset`).

    Attributes:
        regimes: Which of :data:`REGIMES` to run.
        datasets: Paper dataset names (regression: ``scm1d``, ``oes97``).
        lams: λ values of the switch penalty (the paper: a large and a small one per
            dataset; 0.1 is its large one).
        mean_starts: Starts of the sign-variance rule's running sign mean to compare.
        n_gammas: Number of t values in [0, 5] (the paper: 15).
        repeats: Repeats per (regime, dataset, λ, start, γ), seeds 0..repeats−1 (paper: 30).
        epochs, batches_per_epoch, optimizer, lr, lam2: The ``minibatch`` regime.
            The batch size is ``ceil(n_train / batches_per_epoch)``, so both datasets (233
            and 6,276 training rows) get the same number of steps.
        authors_steps, authors_lr, authors_lam2: The ``authors`` regime (full-batch
            Adagrad, one step per epoch, β₀ ~ N(0, 1)).
        beta_optimizer: ``"same"`` (β in the weight optimizer, the authors' setup for
            which the sign-variance rule was designed) or ``"prox"``.
        max_rows: Subsample each dataset (None = all rows).
        split_seed: Seed of the train/val/test split (the same for all repeats).
        user_files: Paper name → user-supplied file.
    """

    regimes: tuple[Regime, ...] = REGIMES
    datasets: tuple[str, ...] = ("scm1d", "oes97")
    lams: tuple[float, ...] = (0.1, 0.01)
    mean_starts: tuple[MeanStart, ...] = MEAN_STARTS
    n_gammas: int = 15
    repeats: int = 30
    epochs: int = 30
    batches_per_epoch: int = 20
    optimizer: Literal["adam", "sgd", "adamw", "adagrad"] = "adam"
    lr: float = 1e-2
    lam2: float = 1e-4
    authors_steps: int = 7000
    authors_lr: float = 0.1
    authors_lam2: float = 1e-8
    beta_optimizer: Literal["prox", "same"] = "same"
    max_rows: int | None = None
    split_seed: int = 0
    user_files: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_datasets(self, self.datasets, task="regression")
        require(self, "regimes", bool(self.regimes) and set(self.regimes) <= set(REGIMES),
                f"a non-empty list of {list(REGIMES)}")
        require(self, "mean_starts",
                bool(self.mean_starts) and set(self.mean_starts) <= set(MEAN_STARTS),
                f"a non-empty list of {list(MEAN_STARTS)}")
        require(self, "lams", bool(self.lams) and min(self.lams) > 0,
                "a non-empty list of values > 0")
        for name in ("n_gammas", "repeats", "epochs", "batches_per_epoch", "authors_steps"):
            require(self, name, getattr(self, name) >= 1, ">= 1")
        for name in ("lr", "authors_lr"):
            require(self, name, getattr(self, name) > 0, "> 0")

    @classmethod
    def preset(cls, name: Preset, **overrides: Any) -> GammaConfig:
        """``quick`` (tests), ``reduced`` (minutes) or ``full`` (the paper's 15 × 30)."""
        check_preset(name)
        base = cls()
        if name == "quick":
            base = replace(base, n_gammas=3, repeats=1, epochs=6, lr=5e-2, max_rows=300,
                           authors_steps=60, lams=(0.1,))
        elif name == "reduced":
            base = replace(base, n_gammas=8, repeats=3, epochs=20, authors_steps=2000)
        return replace(base, **overrides)

    def train_config(self, regime: Regime, n_train: int, seed: int, *, lam: float,
                     gamma: float | None, mean_start: MeanStart = "sign") -> TrainConfig:
        """The trainer settings of one run; ``gamma=None`` is the no-removal baseline."""
        removal = gamma is not None
        if regime == "authors":
            schedule: dict[str, Any] = {
                "epochs": self.authors_steps, "batch_size": n_train, "optimizer": "adagrad",
                "lr": self.authors_lr, "lam2": self.authors_lam2,
            }
        else:
            schedule = {
                "epochs": self.epochs, "batch_size": math.ceil(n_train / self.batches_per_epoch),
                "optimizer": self.optimizer, "lr": self.lr, "lam2": self.lam2,
            }
        return TrainConfig(
            **schedule, lam=lam, penalty="shrink", beta_optimizer=self.beta_optimizer,
            dead_rule="sign_variance" if removal else "none",
            gamma=gamma if gamma is not None else 0.99, sign_mean_start=mean_start,
            removal=removal, device="cpu", seed=seed,
        )


def _train(data: Dataset, cfg: GammaConfig, regime: Regime, seed: int, *, lam: float,
           gamma: float | None, mean_start: MeanStart = "sign") -> TrainResult:
    spec = ModelSpec(kind="linear", in_features=data.n_features, out_features=data.n_outputs,
                     switch_init="normal" if regime == "authors" else "ones")
    model = build_model(spec, seed=seed)
    config = cfg.train_config(regime, int(data.x_train.shape[0]), seed, lam=lam, gamma=gamma,
                              mean_start=mean_start)
    return Trainer(model, data, config).fit()


_GROUP = ("regime", "paper_dataset", "lam", "mean_start")


def _starts(cfg: GammaConfig, regime: Regime) -> tuple[MeanStart, ...]:
    """The sign-mean starts that differ in ``regime``: with every β₀ = 1 (``minibatch``)
    ``sign(β₀) = +1``, so both starts are the same run and only ``"sign"`` is trained."""
    return cfg.mean_starts if regime == "authors" else ("sign",)


def _aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (ddof=0) over repeats per (regime, dataset, λ, start, t)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(tuple(r[k] for k in (*_GROUP, "t")), []).append(r)
    out = []
    for key in sorted(groups):
        group = groups[key]
        row: dict[str, Any] = {k: group[0][k] for k in
                               (*_GROUP, "dataset_label", "stand_in", "steps", "t", "gamma")}
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
        x=t, y=mean, mode="lines+markers", name=name, showlegend=legend, legendgroup=name,
        line={"color": colour}, customdata=[[r["gamma"], r[f"{field}_std"]] for r in rows],
        hovertemplate="t=%{x:.2f} (γ=%{customdata[0]:.6f})<br>mean=%{y:.4f} "
                      "± %{customdata[1]:.4f}"), row=row, col=col)


_REGIME_TITLES = {
    "minibatch": "Adam on 20 minibatches per epoch, λ₂ = 1e-4, β₀ = 1",
    "authors": "the authors' regime: full-batch Adagrad, λ₂ = 1e-8, β₀ ~ N(0, 1)",
}


def _figure(agg: list[dict[str, Any]], infos: list[dict[str, Any]], regime: Regime,
            cfg: GammaConfig) -> go.Figure:
    panels = [(info, lam) for info in infos for lam in cfg.lams]
    titles = []
    for info, lam in panels:
        titles += [f"{info['short_label']}, λ={lam:g}<br>final val loss / no-removal baseline",
                   f"{info['short_label']}, λ={lam:g}<br>cost (Σ live inputs) / baseline"]
    fig = make_subplots(rows=len(panels), cols=2, subplot_titles=titles,
                        vertical_spacing=0.35 / len(panels))
    shown: set[str] = set()
    for k, (info, lam) in enumerate(panels):
        for start in _starts(cfg, regime):
            rows = [r for r in agg if r["regime"] == regime and r["lam"] == lam
                    and r["paper_dataset"] == info["paper_name"] and r["mean_start"] == start]
            name = f"sign mean starts at {'sign(β₀)' if start == 'sign' else '+1'}"
            for col, field in ((1, "rel_loss"), (2, "rel_cost")):
                _band(fig, rows, field, _START_COLOURS[start], row=k + 1, col=col,
                      name=name, legend=name not in shown)
                shown.add(name)
        for col in (1, 2):
            fig.add_hline(y=1.0, line_dash="dash", line_color="grey", row=k + 1, col=col)
            fig.update_xaxes(title_text="t  (γ = 1 − 10^−t)", tickvals=_TICKS,
                             ticktext=[f"{t}<br>γ={1 - 10.0 ** -t:g}" for t in _TICKS],
                             row=k + 1, col=col)
    steps = agg[0]["steps"] if agg else 0
    fig.update_layout(title=f"Dynamic neuron removal for different γ (paper §6.2, Fig. 2)<br>"
                            f"<sup>{_REGIME_TITLES[regime]}, {steps} steps; dashed = "
                            "no-removal baseline; stand-ins as labelled</sup>",
                      height=_PANEL_HEIGHT * len(panels) + 120, template="plotly_white",
                      margin={"t": 140}, legend={"orientation": "h", "y": -0.3 / len(panels)})
    return fig


def _acting(rows: list[dict[str, Any]]) -> float | None:
    """The largest t whose runs removed anything on average (cost ratio below 0.999)."""
    acting = [r["t"] for r in rows if r["rel_cost_mean"] < 0.999]
    return max(acting) if acting else None


def _results(agg: list[dict[str, Any]], infos: list[dict[str, Any]],
             cfg: GammaConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for regime in cfg.regimes:
        for info in infos:
            for lam in cfg.lams:
                for start in _starts(cfg, regime):
                    rows = [r for r in agg if (r["regime"], r["paper_dataset"], r["lam"],
                                               r["mean_start"])
                            == (regime, info["paper_name"], lam, start)]
                    key = f"{regime}/{info['paper_name']}/lam={lam:g}/start={start}"
                    out[key] = {
                        "label": info["label"],
                        "most_aggressive": rows[0],
                        "least_aggressive": rows[-1],
                        "largest_acting_t": _acting(rows),
                        "rel_cost_range": [min(r["rel_cost_mean"] for r in rows),
                                           max(r["rel_cost_mean"] for r in rows)],
                        "rel_loss_range": [min(r["rel_loss_mean"] for r in rows),
                                           max(r["rel_loss_mean"] for r in rows)],
                    }
    return out


def run_gamma(out_dir: Path | str, config: GammaConfig, *, progress_bar: bool = True,
              png: bool | None = None) -> dict[str, Any]:
    """Run the experiment; write ``gamma_runs.csv``, ``gamma.csv``, one
    ``gamma_<regime>.html`` per regime and the summary.

    Returns:
        The summary dict (also written as ``summary.json``).
    """
    t0 = time.perf_counter()
    report = ReportWriter(out_dir, experiment="gamma", png=png)
    gammas = gamma_values(config.n_gammas)
    runs: list[dict[str, Any]] = []
    infos = []
    per_case = sum(1 + len(gammas) * len(_starts(config, r)) for r in config.regimes)
    total = len(config.datasets) * len(config.lams) * config.repeats * per_case
    with progress(total, "gamma runs", enabled=progress_bar) as bar:
        for name in config.datasets:
            data, info = load_paper_dataset(name, user_files=dict(config.user_files),
                                            seed=config.split_seed, max_rows=config.max_rows)
            infos.append(info)
            for regime in config.regimes:
                n_train = int(data.x_train.shape[0])
                schedule = config.train_config(regime, n_train, 0, lam=1.0, gamma=None)
                steps = schedule.epochs * math.ceil(n_train / schedule.batch_size)
                for lam in config.lams:
                    for seed in range(config.repeats):
                        base = _train(data, config, regime, seed, lam=lam, gamma=None)
                        bar.update(1)
                        for start in _starts(config, regime):
                            for t, gamma in gammas:
                                res = _train(data, config, regime, seed, lam=lam, gamma=gamma,
                                             mean_start=start)
                                bar.update(1)
                                runs.append({
                                    "regime": regime, "paper_dataset": name,
                                    "dataset_label": info["label"],
                                    "stand_in": info["stand_in"], "lam": lam,
                                    "mean_start": start, "steps": steps, "t": t,
                                    "gamma": gamma, "repeat": seed, "val_loss": res.val_loss,
                                    "test_loss": res.test_loss,
                                    "cost_inputs": res.cost_inputs,
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
    for regime in config.regimes:
        fig = _figure([r for r in agg if r["regime"] == regime], infos, regime, config)
        report.figure(f"gamma_{regime}", fig, png_height=int(fig.layout.height))
    summary = {
        "paper_section": "6.2 (Fig. 2)",
        "paper_claim": "γ controls how aggressively neurons are removed; removal lowers the "
                       "training cost (Σ live inputs per epoch) relative to training without "
                       "removal, at some cost in final loss (the draft leaves the "
                       "interpretation as TODO)",
        "loss": "validation MSE on standardised targets of the final network",
        "regimes": {r: _REGIME_TITLES[r] for r in config.regimes},
        "config": asdict(config),
        "gammas": [{"t": t, "gamma": g} for t, g in gammas],
        "datasets": infos,
        "results": _results(agg, infos, config),
        "n_runs": len(runs) + len(config.datasets) * len(config.lams) * config.repeats
                  * len(config.regimes),
        "wall_time_s": time.perf_counter() - t0,
    }
    return report.summary(summary)
