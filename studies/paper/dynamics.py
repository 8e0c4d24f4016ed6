"""§6.3: convergence and training dynamics of ShrinkNet MLPs and CNNs for several λ.

An MLP and a small VGG-style CNN start wide on the bundled 8×8 ``digits`` images (no
offline copy of Fashion-MNIST exists here) and train with the core trainer's defaults: the
proximal β step, the sign-variance dead rule and live removal once per epoch. Per epoch we
record the live width of every layer, the mean |β| of its live neurons, the parameter
count, train/validation loss and validation accuracy, so the figure shows how each λ shapes
the network over time. Every (model, λ) runs once per seed (split, initialisation and batch
order); the figures show the first seed, the summary aggregates all of them.

The CNN has a BatchNorm after every conv layer, before its switch. A switch whose consumer
is batch-normalised (the first conv block's: the second conv's BatchNorm hides β's common
scale from the loss) uses the core's well-posed formulation (``TrainConfig.pin_bn_scale``,
the default: that scale is pinned at ``max|β| = 1``); the others are plain. The MLP has no
BatchNorm unless ``mlp_batchnorm`` asks for one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import TrainConfig, Trainer

from ._common import Preset, check_preset, progress, require
from ._report import ReportWriter

__all__ = ["DynamicsConfig", "run_dynamics"]

_DASHES = ("solid", "dash", "dot", "dashdot")


@dataclass(frozen=True)
class DynamicsConfig:
    """Settings of the dynamics experiment (see :meth:`preset`).

    Attributes:
        dataset: Registry name of an image dataset (``digits``).
        lams: The λ values, one training per model each (0 = no shrinking).
        epochs, batch_size, lr, lam2, beta_lr, gamma: Trainer settings.
        mlp_hidden: Initial MLP widths.
        mlp_batchnorm: Put a BatchNorm before every MLP switch, as in the CNN's blocks
            (an ablation; the page's MLP has none).
        cnn_channels, cnn_dense: Initial CNN channels per conv block and dense widths.
        seeds: Split, initialisation and batch-order seeds; each (model, λ) runs per seed.
    """

    dataset: str = "digits"
    lams: tuple[float, ...] = (0.0, 3e-3, 6e-3, 1e-2, 2e-2, 3e-2)
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    lam2: float = 1e-4
    beta_lr: float = 0.5
    gamma: float = 0.99
    mlp_hidden: tuple[int, ...] = (256, 256)
    mlp_batchnorm: bool = False
    cnn_channels: tuple[int, ...] = (32, 64)
    cnn_dense: tuple[int, ...] = (128,)
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        require(self, "lams", bool(self.lams) and min(self.lams) >= 0,
                "a non-empty list of values >= 0")
        require(self, "epochs", self.epochs >= 1, ">= 1")
        require(self, "mlp_hidden", len(self.mlp_hidden) >= 1, "at least one width")
        require(self, "seeds", bool(self.seeds) and min(self.seeds) >= 0,
                "a non-empty list of seeds >= 0")

    @classmethod
    def preset(cls, name: Preset, **overrides: Any) -> DynamicsConfig:
        """``quick`` (tests), ``reduced`` (minutes) or ``full``."""
        check_preset(name)
        base = cls()
        if name == "quick":
            base = replace(base, lams=(0.0, 5e-2), epochs=3, mlp_hidden=(32, 32),
                           cnn_channels=(8, 8), cnn_dense=(16,), seeds=(0,))
        elif name == "reduced":
            base = replace(base, epochs=30)
        return replace(base, **overrides)

    def spec(self, model: str, data: Dataset) -> ModelSpec:
        """The starting architecture of ``model`` (``"mlp"`` or ``"cnn"``) for ``data``."""
        if model == "mlp":
            return ModelSpec(kind="mlp", in_features=data.n_features,
                             out_features=data.n_outputs, hidden=self.mlp_hidden,
                             batchnorm=self.mlp_batchnorm)
        return ModelSpec(kind="cnn", in_features=data.n_features, out_features=data.n_outputs,
                         hidden=self.cnn_channels, dense=self.cnn_dense,
                         image_shape=data.image_shape)

    def train_config(self, lam: float, seed: int) -> TrainConfig:
        """Trainer settings of the run at ``lam`` with ``seed``."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           lam=lam, lam2=self.lam2, beta_lr=self.beta_lr, gamma=self.gamma,
                           device="cpu", seed=seed)


def _figure(rows: list[dict[str, Any]], model: str, label: str,
            lams: tuple[float, ...], seed: int) -> go.Figure:
    rows = [r for r in rows if r["seed"] == seed]
    fig = make_subplots(rows=3, cols=2, subplot_titles=(
        "live width per layer", "parameters", "validation loss", "validation accuracy",
        "mean |β| of the live neurons per layer", "training MACs per epoch"))
    colours = sample_colorscale("Viridis", [k / max(len(lams) - 1, 1) for k in range(len(lams))])
    for lam, colour in zip(lams, colours, strict=True):
        pts = [r for r in rows if r["model"] == model and r["lam"] == lam]
        epochs = [r["epoch"] for r in pts]
        name = f"λ={lam:g}"
        for layer in range(len(pts[0]["widths"])):
            fig.add_trace(go.Scatter(
                x=epochs, y=[r["widths"][layer] for r in pts], mode="lines", name=name,
                legendgroup=name, showlegend=layer == 0,
                line={"color": colour, "dash": _DASHES[layer % len(_DASHES)]},
                hovertemplate=f"{name}, layer {layer + 1}<br>epoch %{{x}}: %{{y}} live"),
                row=1, col=1)
            fig.add_trace(go.Scatter(
                x=epochs, y=[r["mean_abs_beta"][layer] for r in pts], mode="lines", name=name,
                legendgroup=name, showlegend=False,
                line={"color": colour, "dash": _DASHES[layer % len(_DASHES)]},
                hovertemplate=f"{name}, layer {layer + 1}<br>epoch %{{x}}: mean |β| %{{y:.3f}}"),
                row=3, col=1)
        for (r, c), field in (((1, 2), "params"), ((2, 1), "val_loss"),
                              ((2, 2), "val_accuracy"), ((3, 2), "cost_macs")):
            fig.add_trace(go.Scatter(x=epochs, y=[p[field] for p in pts], mode="lines",
                                     name=name, legendgroup=name, showlegend=False,
                                     line={"color": colour}), row=r, col=c)
    for r, c in ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)):
        fig.update_xaxes(title_text="epoch", row=r, col=c)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=f"Training dynamics of a ShrinkNet {model.upper()} on {label}, "
                            f"seed {seed} (paper §6.3; line style = layer)",
                      height=1050, template="plotly_white")
    return fig


def _mean_abs_beta(trainer: Trainer) -> list[float]:
    """Mean |β| over the live neurons of every switch layer (0 if none is alive)."""
    out = []
    for sw in trainer.model.switches():
        live = sw.beta.detach()[sw.alive]
        out.append(float(live.abs().mean()) if live.numel() else 0.0)
    return out


def _first_death(history: list[dict[str, Any]], initial: list[int]) -> int | None:
    """The first epoch whose widths are below the initial ones (None if nothing died)."""
    for rec in history:
        if rec["widths"] != initial:
            return int(rec["epoch"])
    return None


def _aggregate(finals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, λ): every seed's final widths and the mean/min/max of the numbers."""
    out = []
    for key in dict.fromkeys((f["model"], f["lam"]) for f in finals):
        group = [f for f in finals if (f["model"], f["lam"]) == key]
        row: dict[str, Any] = {"model": key[0], "lam": key[1], "seeds": len(group),
                               "final_widths": [f["final_widths"] for f in group],
                               "first_death_epoch": [f["first_death_epoch"] for f in group],
                               "collapsed": sum(f["collapsed"] for f in group)}
        for field in ("params", "val_accuracy", "test_accuracy", "cost_macs_vs_dense"):
            values = [float(f[field]) for f in group if f[field] is not None]
            if not values:
                continue
            row[f"{field}_mean"] = sum(values) / len(values)
            row[f"{field}_min"], row[f"{field}_max"] = min(values), max(values)
        out.append(row)
    return out


def run_dynamics(out_dir: Path | str, config: DynamicsConfig, *, progress_bar: bool = True,
                 png: bool | None = None) -> dict[str, Any]:
    """Train each model at each λ and seed; write ``dynamics.csv``, ``dynamics_final.csv``,
    one figure per model (first seed) and the summary.

    Returns:
        The summary dict (also written as ``summary.json``).
    """
    t0 = time.perf_counter()
    report = ReportWriter(out_dir, experiment="dynamics", png=png)
    rows: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    models = ("mlp", "cnn")
    label = ""
    datasets = []
    total = len(config.seeds) * len(models) * len(config.lams) * config.epochs
    with progress(total, "dynamics epochs", enabled=progress_bar) as bar:
        for seed in config.seeds:
            data = load_dataset(config.dataset, seed=seed)
            label = data.label
            datasets.append(data.summary() | {"label": label, "seed": seed})
            for model_name in models:
                spec = config.spec(model_name, data)
                dense_cost: float | None = None  # the λ = 0 run's, when λ = 0 comes first
                for lam in sorted(config.lams):
                    trainer = Trainer(build_model(spec, seed=seed), data,
                                      config.train_config(lam, seed))
                    betas: list[list[float]] = []

                    def _epoch_end(t: Trainer, _r: object, betas: list[list[float]] = betas
                                   ) -> None:
                        betas.append(_mean_abs_beta(t))
                        bar.update(1)

                    trainer.add_callback("on_epoch_end", _epoch_end)
                    result = trainer.fit()
                    history = []
                    for rec, beta in zip(result.history, betas, strict=True):
                        history.append({
                            "model": model_name, "dataset_label": label, "seed": seed,
                            "lam": lam, "epoch": rec.epoch, "widths": list(rec.widths),
                            "mean_abs_beta": beta, "params": rec.params,
                            "train_loss": rec.train_loss, "val_loss": rec.val_loss,
                            "val_accuracy": rec.val_accuracy, "cost_macs": rec.cost_macs,
                            "live_inputs": rec.live_inputs, "wall_time_s": rec.wall_time_s,
                        })
                    rows.extend(history)
                    initial = list(spec.hidden + spec.dense)
                    if lam == 0:
                        dense_cost = result.cost_macs
                    finals.append({
                        "model": model_name, "lam": lam, "seed": seed,
                        "initial_widths": initial,
                        "final_widths": list(result.final_widths), "params": result.params,
                        "val_accuracy": result.val_accuracy,
                        "test_accuracy": result.test_accuracy,
                        "test_loss": result.test_loss, "cost_macs": result.cost_macs,
                        "cost_macs_vs_dense": (result.cost_macs / dense_cost
                                               if dense_cost else None),
                        "first_death_epoch": _first_death(history, initial),
                        "collapsed": (result.val_accuracy or 0.0) < 1.5 / data.n_outputs,
                        "wall_time_s": result.wall_time_s,
                    })
    report.csv("dynamics", rows)
    report.csv("dynamics_final", finals)
    for model_name in models:
        report.figure(f"dynamics_{model_name}",
                      _figure(rows, model_name, label, config.lams, config.seeds[0]))
    summary = {
        "paper_section": "6.3",
        "paper_claim": "the draft's §6.3 is an empty heading; its outline says ShrinkNets "
                       "'works with bigger networks (MLPs and CNNs)' and asks to 'describe the "
                       "training dynamics' and 'discuss the shape we obtain'",
        "datasets": datasets,
        "config": asdict(config),
        "final": finals,
        "per_lambda": _aggregate(finals),
        "wall_time_s": time.perf_counter() - t0,
    }
    return report.summary(summary)
