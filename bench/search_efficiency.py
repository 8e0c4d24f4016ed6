"""Benchmark (not a test): is λ search cheaper than width search for the same Pareto front?

For each dataset and seed, in this one process and on the same spec (two hidden layers,
``max_width`` 256, same trainer, epochs, optimizer and λ₂), run with equal trial budgets:

* a λ search (TPE on log λ, multi-objective (val loss, params)),
* a width search (TPE on both widths, log scale 1..256, static net),
* a λ path (one training, λ raised along a geometric grid of as many points).

Metrics (compute = training MACs, forward+backward = 3× forward, cumulative over trials in
completion order; reference point shared by the λ and width studies of a seed):

* ``hypervolume_ratio_lambda_over_width``: final hypervolume of λ search / width search;
* ``compute_ratio_width_over_lambda_to_same_hypervolume``: with H = the smaller of the two
  final hypervolumes (a level both searches reach), the compute width search needed to
  reach H divided by the compute λ search needed to reach H (> 1: λ search is cheaper;
  the goal is ≥ 3 when H is width search's final hypervolume);
* ``lambda_path_cost_over_lambda_search_cost``: total MACs of the λ path / of λ search.

Ratios are aggregated over seeds and datasets by geometric mean. Per-seed lines and a
cost breakdown (where λ search's compute goes) are printed before the last line, which is
JSON with exactly those three keys. ``--quick`` runs a smaller budget on digits only.

Defaults of λ trials, and why (measured with ``--quick``, digits, 3 seeds, same session):
the β step normalised per layer (``studies._search_space``: ``lam_scale="grad"``,
``|β| ≤ 1``), λ ∈ [0.02, 0.5], ``beta_lr`` 0.1, γ 0.9, β₀ ~ U(−1, 1), removal every 2 steps,
2 fine-tune epochs. The old setup (plain SGD step, λ ∈ [1e-3, 1], ``beta_lr`` 0.5, γ 0.99,
β₀ = 1, removal every 10 steps, no fine-tune) left 9 of 24 λ trials all-dead and the rest at
256×256: hypervolume ratio 0.27, compute ratio 0.005. Every flag below restores one of them
(the plain step itself is ``TrainConfig(lam_scale="none")``, not reachable from a spec).
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

from studies.compare import StudySummary, compare_studies
from studies.execute import run_study
from studies.spec import load_spec


def _spec(
    kind: str,
    dataset: str,
    seed: int,
    *,
    trials: int,
    epochs: int,
    removal: int,
    init: str,
    finetune: int,
    lam_min: float,
    lam_max: float,
    beta_lr: float,
    gamma: float,
) -> Any:
    return load_spec(
        {
            "name": f"bench-{dataset}-{kind}-{seed}",
            "dataset": {"name": dataset, "seed": 0},
            "architecture": {"depth": 2, "max_width": 256, "switch_init": init},
            "training": {
                "epochs": epochs,
                "batch_size": 128,
                "device": "cpu",
                "removal_every_steps": removal,
                "finetune_epochs": finetune,
                "beta_lr": beta_lr,
                "gamma": gamma,
            },
            "search": {
                "kind": kind,
                "n_trials": trials,
                "sampler": "tpe",
                "seed": seed,
                "objectives": ["val_loss", "params"],
                "lam_min": lam_min,
                "lam_max": lam_max,
            },
        }
    )


def _run(kind: str, dataset: str, seed: int, **options: Any) -> optuna.Study:
    spec = _spec(kind, dataset, seed, **options)
    return run_study(spec, optuna.storages.InMemoryStorage(), progress=False)


def _cost_to_reach(side: StudySummary, level: float) -> float | None:
    for point in side.curve:
        if point.hypervolume >= level * (1 - 1e-9):
            return point.cumulative_cost_macs
    return None


def _breakdown(study: optuna.Study) -> dict[str, float]:
    """Where a λ study's compute went: first epochs, and overhead over training small."""
    first = total = from_scratch = 0.0
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        history = t.user_attrs["history"]
        costs = [h["cost_macs"] for h in history]
        total += sum(costs)
        first += sum(costs[:2])
        end = history[-1]
        from_scratch += 3 * end["macs_per_sample"] * end["samples"] * len(history)
    return {
        "share_of_macs_in_first_2_epochs": first / total if total else math.nan,
        "macs_over_training_final_widths_from_scratch": total / from_scratch
        if from_scratch
        else math.nan,
    }


def _gmean(values: list[float]) -> float | None:
    good = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in good)) if good else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits only, small budget")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument(
        "--removal-every-steps",
        type=int,
        default=2,
        help="physical removal interval of λ trials (DESIGN.md: act early, not once per epoch)",
    )
    parser.add_argument(
        "--switch-init",
        choices=["ones", "uniform", "normal"],
        default="uniform",
        help="initial β of λ trials (ones: neurons die together; uniform: one by one)",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=2,
        help="λ trials: extra epochs at λ = 0 after shrinking (width trials train as many more)",
    )
    parser.add_argument("--lam-min", type=float, default=0.02, help="λ range of λ trials")
    parser.add_argument("--lam-max", type=float, default=0.5)
    parser.add_argument("--beta-lr", type=float, default=0.1, help="β step size of λ trials")
    parser.add_argument("--gamma", type=float, default=0.9, help="sign-variance γ of λ trials")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small nets on a shared CPU: one thread is fastest
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = args.trials or (8 if args.quick else 16)
    epochs = args.epochs or (10 if args.quick else 15)
    datasets = args.datasets or (["digits"] if args.quick else ["digits", "mnist_5k"])
    hv_ratios: list[float] = []
    compute_ratios: list[float] = []
    path_ratios: list[float] = []
    print(
        f"# budget: {trials} trials × {epochs} epochs per search, seeds 0..{args.seeds - 1}, "
        f"removal every {args.removal_every_steps} steps, switch init {args.switch_init}, "
        f"fine-tune epochs {args.finetune_epochs}, λ in [{args.lam_min:g}, {args.lam_max:g}], "
        f"beta_lr {args.beta_lr:g}, gamma {args.gamma:g}, "
        f"datasets {datasets}"
    )
    for dataset in datasets:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            options = {
                "trials": trials,
                "epochs": epochs,
                "removal": args.removal_every_steps,
                "init": args.switch_init,
                "finetune": args.finetune_epochs,
                "lam_min": args.lam_min,
                "lam_max": args.lam_max,
                "beta_lr": args.beta_lr,
                "gamma": args.gamma,
            }
            lam = _run("lambda", dataset, seed, **options)
            width = _run("width", dataset, seed, **options)
            path = _run("lambda_path", dataset, seed, **options)
            c = compare_studies(lam, width)
            level = min(c.a.hypervolume, c.b.hypervolume)
            cost_lam, cost_width = _cost_to_reach(c.a, level), _cost_to_reach(c.b, level)
            compute_ratio = cost_width / cost_lam if cost_lam and cost_width else math.nan
            path_vs = compare_studies(path, width)
            path_ratio = path_vs.a.total_cost_macs / c.a.total_cost_macs
            hv_ratio = c.hypervolume_ratio or math.nan
            hv_ratios.append(hv_ratio)
            compute_ratios.append(compute_ratio)
            path_ratios.append(path_ratio)
            line = {
                "dataset": lam.trials[0].user_attrs["dataset"],
                "seed": seed,
                "hv_lambda": round(c.a.hypervolume, 3),
                "hv_width": round(c.b.hypervolume, 3),
                "hv_path_vs_width_ratio": path_vs.hypervolume_ratio,
                "best_loss_lambda": c.a.best_val_loss,
                "best_loss_width": c.b.best_val_loss,
                "macs_lambda": c.a.total_cost_macs,
                "macs_width": c.b.total_cost_macs,
                "macs_path": path_vs.a.total_cost_macs,
                "wall_s_lambda": round(c.a.total_wall_time_s, 2),
                "wall_s_width": round(c.b.total_wall_time_s, 2),
                "wall_s_path": round(path_vs.a.total_wall_time_s, 2),
                "level": "width final" if level == c.b.hypervolume else "lambda final",
                "macs_to_level_lambda": cost_lam,
                "macs_to_level_width": cost_width,
                "lambda_final_widths": sorted(
                    t.user_attrs["final_widths"] for t in lam.trials if t.values
                ),
                **_breakdown(lam),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps(line), flush=True)
    print(
        json.dumps(
            {
                "hypervolume_ratio_lambda_over_width": _gmean(hv_ratios),
                "compute_ratio_width_over_lambda_to_same_hypervolume": _gmean(compute_ratios),
                "lambda_path_cost_over_lambda_search_cost": _gmean(path_ratios),
            }
        )
    )


if __name__ == "__main__":
    main()
