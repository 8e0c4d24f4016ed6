"""Benchmark (not a test): which search finds small, good networks for the least compute?

For each dataset and seed, in this one process and on the same spec (two hidden layers,
``max_width`` 256, same split, trainer, epochs, optimizer, learning rate and λ₂), four arms
(``studies.arms``) run with **the same compute budget** in training MACs:

* ``lambda``: λ search (TPE on log λ, multi-objective (val loss, params), ShrinkNets that
  start at 256×256 and remove dead neurons while training);
* ``lambda_path``: one training whose λ is raised along a 16-point grid, each step a trial;
* ``width``: width search (TPE on both widths, log scale 1..256, static nets);
* ``width_hyperband``: the same width search with Optuna's ``HyperbandPruner`` on the
  per-epoch val loss (single-objective, as Optuna requires; params recorded).

The budget is fixed from the spec and the data before anything runs:
``--budget-full-trainings`` (default 6) × the MACs of training the 256×256 static net for
all its epochs. No trial starts once an arm's budget is spent (``studies.budget``).

Judged by ``studies.compare`` (its docstring has every convention): hypervolume over
(val loss, log₁₀ params) in the *useful region* whose reference loss is 2 × the best loss
of plain width search (the baseline; never an arm being judged), and the *level* = width
search's final useful hypervolume. Printed per (dataset, seed), then a last JSON line:

* ``<arm>_compute_share``: geometric mean over (dataset, seed) of the compute the arm
  needed to reach the level ÷ the compute width search needed (lower is better; a miss
  counts as the arm's total ÷ width search's compute to the level, a lower bound);
* ``reached``: per arm, "k/n" runs that reached the level;
* ``hv_at_width_compute``: per arm, geometric mean of its useful hypervolume at width
  search's total compute ÷ width search's final useful hypervolume (a 0 counts as 0.001);
* ``reference``: how the reference and the level were set; ``sensitivity``: the three
  compute shares with the reference loss at 1.5× and 3× width search's best loss;
* ``per_dataset``: the shares and reach counts per dataset; ``smallest_within_accuracy``:
  per dataset and arm, the median over seeds of the smallest net within 0.5 accuracy
  points of the best accuracy any arm reached (classification).

Times: CPU time of this process (``time.process_time``) beside wall time, per arm; one
torch thread; denormals flushed for every arm. ``--quick``: digits, 2 seeds, a budget of
4 full trainings of 10 epochs (a few minutes).

λ variants (what "λ search that earns its place" is judged on): ``--variants
prox/uniform layer_normalised/params …`` runs the two λ arms once more per
``beta_step/penalty_weight`` pair beside the default ones (the width arms, and so the
reference and the level, are the same for all); their shares are reported under
``variants``. ``--path-*`` set the λ path's warm-up, epochs per step and fine-tune.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studies.arms import ARMS, arm_spec
from studies.compare import SENSITIVITY_FACTORS, USEFUL_FACTOR, Comparison, compare_studies
from studies.execute import run_study
from studies.objectives import load_study_data
from studies.spec import StudySpec, load_spec

_JUDGED = [a for a in ARMS if a != "width"]


def base_spec(dataset: str, seed: int, *, epochs: int, budget: float, path_steps: int) -> StudySpec:
    """The shared spec of one (dataset, seed); ``budget`` in full-width trainings."""
    spec = load_spec(
        {
            "name": f"bench-{dataset}-{seed}",
            "dataset": {"name": dataset, "seed": 0},
            "architecture": {"depth": 2, "max_width": 256},
            "training": {"epochs": epochs, "batch_size": 128, "device": "cpu",
                         "finetune_epochs": 2},
            "search": {"kind": "lambda", "n_trials": path_steps, "sampler": "tpe",
                       "seed": seed, "objectives": ["val_loss", "params"],
                       "max_macs": 1.0},
        }
    )
    data = load_study_data(spec)
    full = 3.0 * _full_width_macs(spec, data) * len(data.x_train)
    full *= spec.training.epochs + spec.training.finetune_epochs
    search = spec.search.model_copy(update={"max_macs": budget * full, "n_trials": None})
    return spec.model_copy(update={"search": search})


def _full_width_macs(spec: StudySpec, data: Any) -> int:
    from studies._search_space import TrialPlan, model_spec
    from studies.budget import _macs_per_sample

    arch = spec.architecture
    plan = TrialPlan((arch.max_width,) * arch.depth, False, 0.0, 0.0, 0.0)
    mspec = model_spec(
        spec, plan, n_features=data.n_features, n_outputs=data.n_outputs,
        image_shape=data.image_shape,
    )
    return _macs_per_sample(mspec)


def variant_spec(spec: StudySpec, variant: str | None, path: dict[str, Any]) -> StudySpec:
    """The shared spec with the λ arms' settings: ``beta_step/penalty_weight``, optionally
    followed by λ-path or training settings, e.g. ``layer_normalised/uniform:epochs_per_step=3``
    or ``layer_normalised/uniform:gamma=0.99,removal_every_steps=10``."""
    training = spec.training
    path = dict(path)
    if variant:
        head, _, extra = variant.partition(":")
        step, weight = head.split("/")
        changes: dict[str, Any] = {"beta_step": step, "penalty_weight": weight}
        for item in filter(None, extra.split(",")):
            key, value = item.split("=")
            number = float(value) if "." in value or "e" in value else int(value)
            if key in type(training).model_fields:
                changes[key] = number
            else:
                path[key] = number
        training = training.model_copy(update=changes)
    search = spec.search.model_copy(update={"path": spec.search.path.model_copy(update=path)})
    return spec.model_copy(update={"training": training, "search": search})


def run_arm(spec: StudySpec, arm: str, path_steps: int) -> tuple[optuna.Study, float, float]:
    """One arm on an in-memory storage; returns (study, CPU seconds, wall seconds)."""
    one = arm_spec(spec, arm)
    if arm == "lambda_path":
        one = one.model_copy(
            update={"search": one.search.model_copy(update={"n_trials": path_steps})}
        )
    cpu, wall = time.process_time(), time.perf_counter()
    study = run_study(one, optuna.storages.InMemoryStorage(), progress=False)
    return study, time.process_time() - cpu, time.perf_counter() - wall


def _gmean(values: list[float]) -> float | None:
    good = [max(v, 1e-3) for v in values if v is not None and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in good)) if good else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def line_of(
    dataset: str, seed: int, c: Comparison, times: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The per-(dataset, seed) line."""
    width = c.arm("width")
    arms = {}
    for a in c.arms:
        within = a.smallest_within_accuracy or a.smallest_within_loss or {}
        arms[a.arm] = {
            "compute_share": _round(a.compute_share),
            "reached": a.reached,
            "hv": _round(a.hypervolume),
            "hv_at_width_compute_ratio": _round(
                a.hv_at_baseline_compute / width.hypervolume if width.hypervolume else None
            ),
            "best_val_loss": _round(a.best_val_loss, 4),
            "trials": a.n_finished,
            "pruned": a.n_pruned,
            "macs": a.total_cost_macs,
            "smallest_within_acc_params": within.get("params"),
            "smallest_within_acc_widths": within.get("widths"),
            "cpu_s": round(times[a.arm][0], 1),
            "wall_s": round(times[a.arm][1], 1),
        }
    return {
        "dataset": dataset, "seed": seed, "reference_loss": _round(c.region.loss, 4)
        if c.region else None, "level": _round(c.level), "arms": arms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits, 2 seeds, small budget")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (5; quick 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (15; quick 10)")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument(
        "--budget-full-trainings", type=float, default=None,
        help="compute budget of every arm, in trainings of the 256×256 static net (6; quick 4)",
    )
    parser.add_argument("--path-steps", type=int, default=16, help="λ-path grid points")
    parser.add_argument(
        "--arms", nargs="*", default=list(ARMS), choices=list(ARMS),
        help="the default arms to run (width search always runs: it sets the level)",
    )
    parser.add_argument("--path-warmup", type=float, default=None, help="λ path warm-up epochs")
    parser.add_argument("--path-epochs-per-step", type=float, default=None)
    parser.add_argument("--path-finetune", type=int, default=None, help="snapshot fine-tune")
    parser.add_argument(
        "--variants", nargs="*", default=[],
        help="extra λ arms as beta_step/penalty_weight[:path_key=value,...], e.g. prox/uniform "
        "layer_normalised/params layer_normalised/uniform:epochs_per_step=3",
    )
    parser.add_argument(
        "--variant-arms", nargs="*", default=["lambda", "lambda_path"],
        choices=["lambda", "lambda_path"], help="which λ arms each variant runs",
    )
    parser.add_argument(
        "--lambda-variant", default=None,
        help="beta_step/penalty_weight of the default λ arms (default: the spec's defaults)",
    )
    args = parser.parse_args()
    path = {k: v for k, v in (("warmup_epochs", args.path_warmup),
                              ("epochs_per_step", args.path_epochs_per_step),
                              ("finetune_epochs", args.path_finetune)) if v is not None}
    torch.set_num_threads(1)  # small nets on a shared CPU: one thread is fastest
    torch.set_flush_denormal(True)  # every arm alike: subnormal floats slow masked weights
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = args.seeds or (2 if args.quick else 5)
    epochs = args.epochs or (10 if args.quick else 15)
    budget = args.budget_full_trainings or (4.0 if args.quick else 6.0)
    datasets = args.datasets or (["digits"] if args.quick else ["digits", "mnist_5k", "scm20d"])
    print(
        f"# {time.strftime('%Y-%m-%d')}: arms {args.arms}, every arm {budget:g} full-width "
        f"trainings of compute, {epochs}+2 epochs per trial, seeds 0..{seeds - 1}, "
        f"datasets {datasets}, λ path {args.path_steps} steps {path or 'defaults'}, "
        f"λ arms {args.lambda_variant or 'spec defaults'}, variants {args.variants}",
        flush=True,
    )
    started_cpu, started = time.process_time(), time.perf_counter()
    runs: list[tuple[str, Comparison]] = []
    for dataset in datasets:
        for seed in range(seeds):
            spec = base_spec(
                dataset, seed, epochs=epochs, budget=budget, path_steps=args.path_steps
            )
            studies: dict[str, optuna.Study] = {}
            times: dict[str, tuple[float, float]] = {}
            lam_spec = variant_spec(spec, args.lambda_variant, path)
            for arm in [a for a in ARMS if a in args.arms or a == "width"]:
                one = lam_spec if arm.startswith("lambda") else spec
                studies[arm], cpu, wall = run_arm(one, arm, args.path_steps)
                times[arm] = (cpu, wall)
            for variant in args.variants:
                for arm in args.variant_arms:
                    name = f"{arm}[{variant}]"
                    one = variant_spec(spec, variant, path)
                    studies[name], cpu, wall = run_arm(one, arm, args.path_steps)
                    times[name] = (cpu, wall)
            c = compare_studies(studies, baseline="width")
            runs.append((dataset, c))
            print(json.dumps(line_of(dataset, seed, c, times)), flush=True)
    print(json.dumps(summary(runs, started_cpu, started)))


def _judged(runs: list[tuple[str, Comparison]]) -> list[str]:
    return [a for a in runs[0][1].arm_names if a != "width"] if runs else list(_JUDGED)


def _shares(runs: list[tuple[str, Comparison]], factor: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in _judged(runs):
        if factor is None:
            values = [c.arm(arm).compute_share for _, c in runs]
        else:
            values = [c.sensitivity[factor][arm] for _, c in runs]
        out[arm] = _round(_gmean([v for v in values if v is not None]))
    return out


def summary(runs: list[tuple[str, Comparison]], cpu0: float, wall0: float) -> dict[str, Any]:
    """The last JSON line (keys in the module docstring)."""
    shares = _shares(runs)
    out: dict[str, Any] = {
        "lambda_search_compute_share": shares.get("lambda"),
        "lambda_path_compute_share": shares.get("lambda_path"),
        "width_hyperband_compute_share": shares.get("width_hyperband"),
        "reached": {
            arm: f"{sum(c.arm(arm).reached for _, c in runs)}/{len(runs)}"
            for arm in runs[0][1].arm_names
        },
        "variants": {k: v for k, v in shares.items() if "[" in k},
        "hv_at_width_compute": {
            arm: _round(_gmean([
                c.arm(arm).hv_at_baseline_compute / c.arm("width").hypervolume
                for _, c in runs if c.arm("width").hypervolume > 0
            ]))
            for arm in runs[0][1].arm_names
        },
        "reference": (
            f"hypervolume over (val loss, log10 params); reference loss = {USEFUL_FACTOR:g} × "
            "width search's best val loss, reference size = log10(1.1 × params of the "
            "256×256 net); level = width search's final useful hypervolume; equal MAC budgets"
        ),
        "sensitivity": {
            f"{f:g}x": _shares(runs, f"{f:g}") for f in SENSITIVITY_FACTORS
        },
        "per_dataset": {},
        "smallest_within_accuracy": {},
        "cpu_minutes": round((time.process_time() - cpu0) / 60, 1),
        "wall_minutes": round((time.perf_counter() - wall0) / 60, 1),
    }
    for dataset in dict.fromkeys(d for d, _ in runs):
        mine = [(d, c) for d, c in runs if d == dataset]
        out["per_dataset"][dataset] = {
            "compute_share": _shares(mine),
            "reached": {arm: f"{sum(c.arm(arm).reached for _, c in mine)}/{len(mine)}"
                        for arm in mine[0][1].arm_names},
        }
        sizes = {}
        for arm in mine[0][1].arm_names:
            found = [
                (c.arm(arm).smallest_within_accuracy or {}).get("params") for _, c in mine
            ]
            known = [v for v in found if v is not None]
            sizes[arm] = statistics.median(known) if known else None
        if any(v is not None for v in sizes.values()):
            out["smallest_within_accuracy"][dataset] = sizes
    return out


if __name__ == "__main__":
    main()
