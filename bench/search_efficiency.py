"""Benchmark (not a test): which search finds small, good networks for the least compute?

For each dataset and seed, in this one process and on the same spec (two hidden layers,
``max_width`` 256, same split, trainer, epochs, optimizer, learning rate and λ₂), four arms
(``studies.arms``) run with **the same compute budget** in training MACs:

* ``lambda``: λ search (TPE on log λ, multi-objective (val loss, params), ShrinkNets that
  start at 256×256 and remove dead neurons while training);
* ``lambda_path``: one training whose λ is raised along a 16-point grid, each step a trial;
  then the budget left goes to longer fine-tunes of the snapshots on its front and to
  shifted passes over the grid (``studies._path_refine``);
* ``width``: width search (TPE on both widths, log scale 1..256, static nets);
* ``width_hyperband``: the same width search with Optuna's ``HyperbandPruner`` on the
  per-epoch val loss (single-objective, as Optuna requires; params recorded);
* ``prune_path``: the λ path's schedule at λ = 0, each step pruning the least important
  neurons across layers to a geometric size target (``search.path.importance``);
* ``width_mo_asha``: width search on (val loss, params) with multi-objective TPE and
  MO-ASHA's promotion by non-dominated sorting (``studies._mo_asha``).

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
* ``test_hv_at_width_compute``: the same with each front (chosen on validation) scored by
  its test losses, against width search's front scored alike: out of sample, so selection
  on the validation split cannot inflate it. Every arm's trials keep their best validation
  epoch at their final widths (``studies._selection``);
* ``reference``: how the reference and the level were set; ``sensitivity``: the three
  compute shares with the reference loss at 1.5× and 3× width search's best loss;
* ``per_dataset``: the shares, reach counts and both hypervolume ratios per dataset
  (each run's line also has each arm's ``params_digest``: the first trials' parameters, to
  tell a sampler that differs across machines from training that does);
  ``smallest_within_accuracy``:
  per dataset and arm, the median over seeds of the smallest net within 0.5 accuracy
  points of the best accuracy any arm reached (classification).

Times: CPU time of this process (``time.process_time``) beside wall time, per arm; one
torch thread; denormals flushed for every arm. ``--quick``: digits, 2 seeds, a budget of
4 full trainings of 10 epochs (a few minutes).

λ variants (what "λ search that earns its place" is judged on): ``--variants
none/uniform grad/params …`` runs the two λ arms once more per
``lam_scale/penalty_weight`` pair beside the default ones (the width arms, and so the
reference and the level, are the same for all); their shares are reported under
``variants``. ``--path-*`` set the λ path's warm-up, epochs per step and fine-tune.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
        help="extra λ arms as lam_scale/penalty_weight[:path_key=value,...], e.g. none/uniform "
        "grad/params grad/uniform:epochs_per_step=3",
    )
    parser.add_argument(
        "--variant-arms", nargs="*", default=list(LAMBDA_ARMS),
        choices=list(VARIANT_ARMS), help="which λ arms (or the prune path) each variant runs",
    )
    parser.add_argument(
        "--lambda-variant", default=None,
        help="lam_scale/penalty_weight of the default λ arms (default: the spec's defaults)",
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
            spec = equal_budget_spec(dataset, seed, epochs=epochs, budget=budget)
            names = arm_names(args.arms, args.variants, args.variant_arms)
            studies, times = run_case(spec, names, path_steps=args.path_steps,
                                      lambda_variant=args.lambda_variant, path=path)
            c = compare_studies(studies, baseline="width")
            runs.append((dataset, c))
            print(json.dumps(run_line(dataset, seed, c, times)), flush=True)
    print(json.dumps(summarise_runs(runs, started_cpu, started)))


if __name__ == "__main__":
    main()
