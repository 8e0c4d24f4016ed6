"""§6.1 / Fig. 1: loss against sparsity, ShrinkNets versus group sparsity, single-layer models.

For each dataset both methods are fitted to convergence over a λ grid (full batch, see
:mod:`studies.paper._single_layer`); for every fit we record the paper's sparsity (fraction
of input columns whose weights are all below 1e-3 in absolute value — for ShrinkNets the
effective weight ``A·diag(β)``) and the training loss, normalised to [0, 1] over all runs
of the dataset. Grids are scaled by the group-sparsity λ_max of the dataset and widened at
either end until each method spans (nearly) the whole sparsity range, as the paper chose
"parameters ... to obtain the widest sparsity spectrum".

The paper's claim: ShrinkNets fits the data closer than group sparsity at equal sparsity.
The summary measures it as the gap between the two methods' best normalised losses at
sparsity levels both reach (positive = ShrinkNets lower).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from shrinknets_core.datasets import Dataset
from shrinknets_core.training.metrics import normalise_losses, sparsity

from ._common import (
    Preset,
    check_datasets,
    check_preset,
    load_paper_dataset,
    progress,
    require,
)
from ._report import ReportWriter
from ._single_layer import data_loss, fit_group_lasso, fit_shrinknet, group_lambda_max

__all__ = ["TradeoffConfig", "run_tradeoff"]

METHODS = ("shrinknets", "group_sparsity")
_COLOURS = {"shrinknets": "#d62728", "group_sparsity": "#1f77b4"}
_LEVELS = tuple(round(0.1 * k, 1) for k in range(1, 10))


@dataclass(frozen=True)
class TradeoffConfig:
    """Settings of the trade-off experiment (see :meth:`preset`).

    Attributes:
        datasets: Paper dataset names (keys of ``PAPER_DATASETS``).
        n_lambdas: Grid points per method before widening.
        group_steps: Maximum FISTA iterations per group-sparsity fit.
        shrink_steps: Full-batch iterations per ShrinkNets fit.
        lr: Adam learning rate of A and b for ShrinkNets.
        beta_lr: β step size for ShrinkNets' proximal step.
        lam2: λ₂ of ShrinkNets' ‖A‖² term.
        widen: Maximum extra λ points added at each end to widen the sparsity range.
        refine: Maximum extra λ points added inside the grid where the sparsity jumps.
        max_gap: Refine until neighbouring λ differ by at most this much sparsity.
        max_rows: Subsample each dataset (None = all rows).
        seed: Split and initialisation seed.
        user_files: Paper name → user-supplied file (else the bundled/stand-in data).
    """

    datasets: tuple[str, ...] = ("scm1d", "oes97", "gina_prior2", "gsadd")
    n_lambdas: int = 16
    group_steps: int = 3000
    shrink_steps: int = 3000
    lr: float = 1e-2
    beta_lr: float = 0.5
    lam2: float = 1e-3
    widen: int = 4
    refine: int = 10
    max_gap: float = 0.1
    max_rows: int | None = None
    seed: int = 0
    user_files: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_datasets(self, self.datasets)
        require(self, "n_lambdas", self.n_lambdas >= 2, ">= 2")
        for name in ("group_steps", "shrink_steps"):
            require(self, name, getattr(self, name) >= 1, ">= 1")
        for name in ("widen", "refine"):
            require(self, name, getattr(self, name) >= 0, ">= 0")
        for name in ("lr", "beta_lr"):
            require(self, name, getattr(self, name) > 0, "> 0")
        require(self, "lam2", self.lam2 >= 0, ">= 0")
        require(self, "max_gap", 0 < self.max_gap <= 1, "in (0, 1]")

    @classmethod
    def preset(cls, name: Preset, **overrides: Any) -> TradeoffConfig:
        """``quick`` (tests, seconds), ``reduced`` (minutes) or ``full`` (the paper's scale)."""
        check_preset(name)
        base = cls()
        if name == "quick":
            base = replace(base, n_lambdas=4, group_steps=150, shrink_steps=150, widen=1,
                           refine=1, max_rows=300)
        elif name == "reduced":
            base = replace(base, n_lambdas=8, group_steps=1200, shrink_steps=3000, widen=3,
                           refine=6)
        return replace(base, **overrides)


def _fit(data: Dataset, method: str, lam: float, cfg: TradeoffConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    if method == "shrinknets":
        fit = fit_shrinknet(data, lam=lam, lam2=cfg.lam2, steps=cfg.shrink_steps, lr=cfg.lr,
                            beta_lr=cfg.beta_lr, seed=cfg.seed)
    else:
        fit = fit_group_lasso(data, lam=lam, steps=cfg.group_steps)
    return {
        "method": method,
        "lam": lam,
        "sparsity": sparsity(fit.weight, tol=1e-3),
        "train_loss": float(data_loss(data, fit.weight, fit.bias)),
        "test_loss": float(data_loss(data, fit.weight, fit.bias, split="test")),
        "steps": fit.steps,
        "wall_time_s": time.perf_counter() - t0,
    }


def _sweep(data: Dataset, method: str, grid: np.ndarray, cfg: TradeoffConfig,
           bar: Any) -> list[dict[str, Any]]:
    """Fit every λ of ``grid``, widen it while the ends miss sparsity 0 or 1, then refine it
    where neighbouring λ differ by more than ``max_gap`` in sparsity."""
    step = float(grid[1] / grid[0]) if len(grid) > 1 else 10.0
    runs = []
    for lam in grid:
        runs.append(_fit(data, method, float(lam), cfg))
        bar.update(1)
    for _ in range(cfg.widen):
        low = min(runs, key=lambda r: r["lam"])
        high = max(runs, key=lambda r: r["lam"])
        todo = []
        if low["sparsity"] > 0.01:
            todo.append(low["lam"] / step)
        if high["sparsity"] < 0.99:
            todo.append(high["lam"] * step)
        if not todo:
            break
        bar.total += len(todo)
        for lam in todo:
            runs.append(_fit(data, method, lam, cfg))
            bar.update(1)
    for _ in range(cfg.refine):
        # fill the widest sparsity gap between neighbouring λ (geometric midpoint), so a
        # method whose sparsity jumps is not judged on a grid that skips the jump
        runs.sort(key=lambda r: r["lam"])
        gap, lo, hi = max((abs(b["sparsity"] - a["sparsity"]), a["lam"], b["lam"])
                          for a, b in itertools.pairwise(runs))
        if gap <= cfg.max_gap:
            break
        bar.total += 1
        runs.append(_fit(data, method, math.sqrt(lo * hi), cfg))
        bar.update(1)
    return sorted(runs, key=lambda r: r["lam"])


def _best_at_levels(rows: list[dict[str, Any]], method: str) -> dict[float, float]:
    """Best normalised loss among the method's runs with sparsity ≥ each level."""
    out = {}
    for level in _LEVELS:
        losses = [r["normalised_loss"] for r in rows
                  if r["method"] == method and r["sparsity"] >= level - 1e-9]
        if losses:
            out[level] = min(losses)
    return out


def _claim(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ShrinkNets' advantage at shared sparsity levels (positive gap = ShrinkNets lower)."""
    shrink = _best_at_levels(rows, "shrinknets")
    group = _best_at_levels(rows, "group_sparsity")
    levels = sorted(set(shrink) & set(group))
    gaps = [group[s] - shrink[s] for s in levels]
    return {
        "levels": levels,
        "best_normalised_loss_shrinknets": [shrink[s] for s in levels],
        "best_normalised_loss_group": [group[s] for s in levels],
        "mean_gap_group_minus_shrinknets": float(np.mean(gaps)) if gaps else None,
        "levels_shrinknets_lower": sum(g > 1e-3 for g in gaps),
        "levels_group_lower": sum(g < -1e-3 for g in gaps),
        "sparsity_range": {m: [min(r["sparsity"] for r in rows if r["method"] == m),
                               max(r["sparsity"] for r in rows if r["method"] == m)]
                           for m in METHODS},
    }


def _figure(rows: list[dict[str, Any]], infos: list[dict[str, Any]]) -> go.Figure:
    cols = 2 if len(infos) > 1 else 1
    nrows = (len(infos) + cols - 1) // cols
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[i["short_label"] for i in infos])
    for k, info in enumerate(infos):
        for method in METHODS:
            pts = sorted((r for r in rows if r["paper_dataset"] == info["paper_name"]
                          and r["method"] == method), key=lambda r: (r["sparsity"], r["lam"]))
            fig.add_trace(go.Scatter(
                x=[r["sparsity"] for r in pts], y=[r["normalised_loss"] for r in pts],
                mode="lines+markers", name=method.replace("_", " "),
                legendgroup=method, showlegend=k == 0, line={"color": _COLOURS[method]},
                customdata=[[r["lam"], r["train_loss"]] for r in pts],
                hovertemplate="λ=%{customdata[0]:.3g}<br>sparsity=%{x:.3f}<br>"
                              "normalised loss=%{y:.3f}<br>loss=%{customdata[1]:.4g}",
            ), row=k // cols + 1, col=k % cols + 1)
        fig.update_xaxes(title_text="sparsity", range=[-0.02, 1.02], row=k // cols + 1,
                         col=k % cols + 1)
        fig.update_yaxes(title_text="normalised train loss", row=k // cols + 1,
                         col=k % cols + 1)
    fig.update_layout(title="Loss/sparsity trade-off, ShrinkNets vs group sparsity "
                            "(paper §6.1, Fig. 1; stand-ins as labelled)",
                      height=420 * nrows, template="plotly_white")
    return fig


def run_tradeoff(out_dir: Path | str, config: TradeoffConfig, *, progress_bar: bool = True,
                 png: bool | None = None) -> dict[str, Any]:
    """Run the experiment and write ``tradeoff.csv``, ``tradeoff.html`` and ``summary.json``.

    Args:
        out_dir: Output directory (created).
        config: The settings.
        progress_bar: Show a tqdm bar on stderr.
        png: PNG export (None = when an exporter works).

    Returns:
        The summary dict (also written as ``summary.json``).
    """
    t0 = time.perf_counter()
    report = ReportWriter(out_dir, experiment="tradeoff", png=png)
    user_files = dict(config.user_files)
    rows: list[dict[str, Any]] = []
    infos, claims = [], {}
    bar = progress(2 * config.n_lambdas * len(config.datasets), "tradeoff fits",
                   enabled=progress_bar)
    with bar:
        for name in config.datasets:
            data, info = load_paper_dataset(name, user_files=user_files, seed=config.seed,
                                            max_rows=config.max_rows)
            lam_max = group_lambda_max(data)
            info["group_lambda_max"] = lam_max
            grids = {"group_sparsity": lam_max * np.logspace(-3, 0, config.n_lambdas),
                     "shrinknets": lam_max * np.logspace(-2, 1, config.n_lambdas)}
            runs = [r for m in METHODS for r in _sweep(data, m, grids[m], config, bar)]
            for run, norm in zip(runs, normalise_losses([r["train_loss"] for r in runs]),
                                 strict=True):
                run.update(normalised_loss=norm, paper_dataset=name,
                           dataset=info["name"], dataset_label=info["label"],
                           stand_in=info["stand_in"])
            rows.extend(runs)
            infos.append(info)
            claims[name] = _claim(runs)
    order = ["paper_dataset", "dataset", "dataset_label", "stand_in", "method", "lam",
             "sparsity", "normalised_loss", "train_loss", "test_loss", "steps", "wall_time_s"]
    report.csv("tradeoff", [{k: r[k] for k in order} for r in rows])
    report.figure("tradeoff", _figure(rows, infos))
    summary = {
        "paper_section": "6.1 (Fig. 1)",
        "paper_claim": "ShrinkNets can fit the data closer than group sparsity for the same "
                       "amount of sparsity",
        "loss": "training loss (MSE on standardised targets / cross-entropy), normalised to "
                "[0, 1] over all runs of a dataset",
        "config": asdict(config),
        "datasets": infos,
        "claim_check": claims,
        "n_runs": len(rows),
        "wall_time_s": time.perf_counter() - t0,
    }
    return report.summary(summary)
