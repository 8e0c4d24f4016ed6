"""§6.4: hyper-optimisation — λ search against width search on equal compute.

For each dataset and seed, the arms of :mod:`studies.arms` run on one shared spec (two
hidden layers of at most ``max_width``; the same split, trainer, epochs, optimizer,
learning rate and λ₂) with **the same compute budget** in training MACs
(:mod:`studies.equal_budget`): λ search (every trial a ShrinkNet that starts at
``max_width`` and shrinks while it trains), the λ path (one training whose λ rises along a
grid, each step a trial), width search (static nets) and width search with Optuna's
Hyperband pruner (the baseline most Optuna users would pick). The λ methods also run in
their *variants* (the other β step, the priced penalty) beside the defaults.

They are judged by :func:`studies.compare.compare_studies`: hypervolume over (validation
loss, log₁₀ params) in the *useful region* (reference loss = 2 × width search's best
loss), the *level* = width search's final useful hypervolume, and each arm's compute to
reach it ÷ width search's (its *compute share*). The size-space figure draws, for the
first dataset and seed, the λ trials' and the path's trajectories and the width trials'
end points — the two-layer picture the paper's outline asks for.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from studies._report import write_comparison
from studies.arms import ARMS
from studies.compare import Comparison, compare_studies
from studies.equal_budget import (
    LAMBDA_ARMS,
    VARIANT_ARMS,
    arm_names,
    equal_budget_spec,
    run_case,
    run_line,
    summarise_runs,
)
from studies.plots import compute_figure, pareto_figure, size_space_figure

from ._common import Preset, check_preset, progress, require
from ._report import ReportWriter

__all__ = ["HyperoptConfig", "run_hyperopt"]


@dataclass(frozen=True)
class HyperoptConfig:
    """Settings of the hyper-optimisation experiment (see :meth:`preset`).

    Attributes:
        datasets: Registry names (``digits``; ``mnist_5k`` and ``scm20d`` are the stand-ins
            for the paper's gina_prior2 and scm1d).
        seeds: One run of every arm per (dataset, seed): the sampler's seed.
        epochs: Epochs per trial (λ trials then fine-tune 2 epochs at λ = 0; width trials
            train ``epochs + 2``).
        budget: Every arm's compute budget, in trainings of the ``max_width`` static net.
        max_width: Width λ trials start at, and the width search's upper bound.
        path_steps: Grid points of the λ path.
        arms: The arms (:data:`studies.arms.ARMS`; ``width`` always runs: it sets the
            reference and the level).
        variants: Extra ``lam_scale/penalty_weight`` settings of the λ arms
            (:mod:`studies.equal_budget`), each run beside the defaults.
        variant_arms: Which λ arms each variant runs.
    """

    datasets: tuple[str, ...] = ("digits", "mnist_5k", "scm20d")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    epochs: int = 15
    budget: float = 6.0
    max_width: int = 256
    path_steps: int = 16
    arms: tuple[str, ...] = ARMS
    variants: tuple[str, ...] = ("none/uniform", "grad/params")
    variant_arms: tuple[str, ...] = LAMBDA_ARMS

    def __post_init__(self) -> None:
        require(self, "seeds", bool(self.seeds) and min(self.seeds) >= 0,
                "a non-empty list of seeds >= 0")
        require(self, "datasets", bool(self.datasets), "a non-empty list of dataset names")
        require(self, "arms", set(self.arms) <= set(ARMS), f"a list of {list(ARMS)}")
        require(self, "variant_arms", set(self.variant_arms) <= set(VARIANT_ARMS),
                f"a list of {list(VARIANT_ARMS)}")
        require(self, "epochs", self.epochs >= 1, ">= 1")
        require(self, "budget", self.budget > 0, "> 0")
        require(self, "path_steps", self.path_steps >= 2, ">= 2")
        for variant in self.variants:
            head = variant.partition(":")[0]
            require(self, "variants", head.count("/") == 1,
                    "a list of 'lam_scale/penalty_weight' strings")

    @classmethod
    def preset(cls, name: Preset, **overrides: Any) -> HyperoptConfig:
        """``quick`` (tests), ``reduced`` (about 20 minutes) or ``full`` (5 seeds)."""
        check_preset(name)
        base = cls()
        if name == "quick":
            base = replace(base, datasets=("digits",), seeds=(0,), epochs=2, budget=1.5,
                           max_width=16, path_steps=3, variants=("none/uniform",),
                           variant_arms=("lambda",))
        elif name == "reduced":
            base = replace(base, seeds=(0, 1), epochs=10, budget=4.0)
        return replace(base, **overrides)

    def arm_names(self) -> list[str]:
        """The arms run per (dataset, seed): the default ones, then ``arm[variant]``."""
        return arm_names(self.arms, self.variants, self.variant_arms)


def _arm_rows(dataset: str, seed: int, line: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"dataset": dataset, "seed": seed, "arm": arm,
             "reference_loss": line["reference_loss"], "level": line["level"], **values}
            for arm, values in line["arms"].items()]


def run_hyperopt(out_dir: Path | str, config: HyperoptConfig, *, progress_bar: bool = True,
                 png: bool | None = None) -> dict[str, Any]:
    """Run every arm per (dataset, seed); write the comparisons, the figures and summary.

    The studies live in ``<out_dir>/hyperopt.db`` (SQLite; recreated on every run), so the
    ``optuna`` CLI and optuna-dashboard can open them afterwards. Files:
    ``hyperopt_arms.csv`` (one row per dataset, seed and arm), ``hyperopt_trials.csv`` (every
    trial), ``comparison_<dataset>_seed<k>/`` (the comparison's JSON and CSV), and the
    size-space, Pareto and compute figures of the first dataset and seed.

    Returns:
        The summary dict (also written as ``summary.json``).
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = ReportWriter(out_dir, experiment="hyperopt", png=png)
    db = report.out_dir / "hyperopt.db"
    db.unlink(missing_ok=True)
    storage = f"sqlite:///{db}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs: list[tuple[str, Comparison]] = []
    arm_rows: list[dict[str, Any]] = []
    trial_rows: list[dict[str, Any]] = []
    first: dict[str, optuna.Study] | None = None
    total = len(config.datasets) * len(config.seeds) * len(config.arm_names())
    with progress(total, "hyperopt arms", enabled=progress_bar) as bar:
        for dataset in config.datasets:
            for seed in config.seeds:
                spec = equal_budget_spec(dataset, seed, epochs=config.epochs,
                                         budget=config.budget, name="paper-hyperopt",
                                         max_width=config.max_width)
                studies, times = run_case(spec, config.arm_names(),
                                          path_steps=config.path_steps, storage=storage,
                                          on_arm=lambda _name: bar.update(1))
                first = first or studies
                comparison = compare_studies(studies, baseline="width")
                runs.append((dataset, comparison))
                folder = f"comparison_{dataset}_seed{seed}"
                write_comparison(comparison, report.out_dir / folder, figures=False)
                report.files[f"{folder}/"] = "comparison JSON + CSV (studies package)"
                arm_rows.extend(_arm_rows(dataset, seed, run_line(dataset, seed, comparison,
                                                                  times)))
                trial_rows.extend({"dataset": dataset, "seed": seed, **r}
                                  for r in comparison.csv_rows())
    assert first is not None  # datasets and seeds are never empty: checked in __post_init__
    report.csv("hyperopt_arms", arm_rows)
    report.csv("hyperopt_trials", trial_rows)
    shown = [first[a] for a in ARMS if a in first]
    title = (f" ({config.datasets[0]}, 2 hidden layers, max width {config.max_width}, seed "
             f"{config.seeds[0]}, equal compute; paper §6.4)")
    for name, fig in (("size_space", size_space_figure(*shown)),
                      ("pareto", pareto_figure(*shown)),
                      ("compute", compute_figure(*shown))):
        fig.update_layout(title=(fig.layout.title.text or name) + title)
        report.figure(name, fig)
    summary = {
        "paper_section": "6.4",
        "paper_claim": "it is easier to do hyper-parameter optimisation on the regularisation "
                       "parameter than on the size of each layer (outline; §6.4 is an empty "
                       "heading); the size-space trajectory as λ decreases was planned, "
                       "never drawn",
        "config": asdict(config),
        "arms": config.arm_names(),
        "storage": storage,
        "aggregate": summarise_runs(runs, cpu0, t0),
        "wall_time_s": time.perf_counter() - t0,
    }
    return report.summary(summary)
