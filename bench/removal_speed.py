"""Benchmark (not a test): is live removal faster than dense training at the same accuracy?

Two cases, each a wide network shrunk by λ while it trains, every arm in one process:

* **MLP** 784→1024→1024→10 on ``mnist_5k`` (training rows repeated 6×, as in
  docs/method.md §5), 10 epochs;
* **CNN** of the paper's §6.3 on ``digits`` (conv 32/64 with BatchNorm, dense 128), 10 epochs.

Arms, with the same data, epochs, optimizer, batch order and λ₂:

1. **dense** — the full-width static net (no switches, λ = 0): what a user trains without
   ShrinkNets, and the accuracy to match;
2. **λ sweep** — live removal at each λ of ``--lams`` (no freezing); the **equal-accuracy λ**
   is the largest whose *validation* accuracy is within 0.5 pt of the dense net's (chosen on
   validation, reported on test: choosing on test would flatter the result), or, when none
   is, the sweep's most accurate λ (``within_0.5pt`` false);
3. **live** — live removal at that λ with settled layers frozen
   (``TrainConfig.freeze_after_steps``, ``--freeze-after``): the arm the targets are about;
4. **masked** — the same λ, dead neurons only masked (``removal=False``): full-width compute;
5. **from scratch** — a static net of the widths the live arm ended with.

Times are the CPU time of the training process (``time.process_time`` around
``Trainer.fit``, which includes the per-epoch validation), wall time beside them; subnormal
floats are flushed for every arm (``torch.set_flush_denormal``: a masked net's dead rows
decay into subnormals and slowed its epochs 3.5 s → 38 s before). One torch thread unless
``--threads`` says otherwise. Ratios are per seed, then the median over ``--seeds``.

Printed ratios (the last line is JSON; the CNN's keys are prefixed ``cnn_``):

- ``speedup_vs_dense_at_equal_accuracy`` = CPU(dense) / CPU(live) — target ≥ 3;
- ``accuracy_gap_vs_dense_pt`` = 100 × (test acc(dense) − test acc(live)) — target ≤ 0.5;
- ``slowdown_vs_final_from_scratch`` = CPU(live) / CPU(scratch) — target ≤ 1.25, with
  ``macs_live_vs_scratch`` beside it (training MACs: a floor for the time ratio on
  compute-bound hardware, since the live net starts wide);
- ``speedup_vs_masked`` = CPU(masked) / CPU(live);
- ``freeze_speedup`` = CPU(live without freezing) / CPU(live), at the same λ;
- ``longest_quiet_gap_steps``: over the sweep's unfrozen runs, the longest stretch of steps a
  layer lost no neuron and then lost one again (at removal-point resolution): a
  ``--freeze-after`` below it would have frozen a layer that was still going to shrink.

``--device cuda`` runs every arm on the GPU (CPU time then counts the host's work only:
compare the wall times there). Usage: ``python bench/removal_speed.py [--quick] [--seeds 0 1 2]
[--cases mlp cnn] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import TrainConfig, Trainer, TrainResult

LAMS = (0.125, 0.0625, 0.03125, 0.015625, 0.0078125)
EQUAL_ACCURACY_PT = 0.5


@dataclass(frozen=True)
class Timed:
    """One training's result with its CPU and wall time."""

    result: TrainResult
    cpu_s: float
    wall_s: float

    @property
    def test_acc(self) -> float:
        assert self.result.test_accuracy is not None
        return self.result.test_accuracy

    @property
    def val_acc(self) -> float:
        assert self.result.val_accuracy is not None
        return self.result.val_accuracy


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 epochs, one seed, 2 λ")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default 10, quick 3)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2")
    ap.add_argument("--cases", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--lams", type=float, nargs="+", default=None,
                    help=f"λ sweep, largest first (default {' '.join(map(str, LAMS))})")
    ap.add_argument("--freeze-after", type=int, default=150,
                    help="freeze a layer after this many steps without a death")
    ap.add_argument("--repeat", type=int, default=6, help="mnist_5k train rows repeated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    args.epochs = args.epochs or (3 if args.quick else 10)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    args.lams = sorted(args.lams or (LAMS[2:4] if args.quick else LAMS), reverse=True)
    return args


def _config(args: argparse.Namespace, seed: int) -> TrainConfig:
    """The live-removal setup of docs/method.md §5: the layer-normalised β step, β₀ ~ U(−1, 1)
    (in the spec), γ = 0.9, removal every 5 steps."""
    return TrainConfig(
        epochs=args.epochs, batch_size=128, lam=0.0, beta_lr=0.05, lam_scale="grad",
        beta_max=1.0, gamma=0.9, removal_every_steps=5, device=args.device, seed=seed,
    )


def _fit(name: str, spec: ModelSpec, data: Dataset, config: TrainConfig) -> Timed:
    trainer = Trainer(build_model(spec, seed=config.seed), data, config)
    cpu, wall = time.process_time(), time.perf_counter()
    result = trainer.fit()
    timed = Timed(result, time.process_time() - cpu, time.perf_counter() - wall)
    print(f"  {name}: CPU {timed.cpu_s:.2f}s wall {timed.wall_s:.2f}s, widths "
          f"{result.final_widths}, params {result.params}, val {timed.val_acc:.4f}, "
          f"test {timed.test_acc:.4f}", flush=True)
    return timed


def _quiet_gap(result: TrainResult) -> int:
    """The longest run of steps after which a layer still lost a neuron (removal log)."""
    deaths: dict[int, list[int]] = {}
    widths: list[int] | None = None
    for record in result.removals:
        now = [len(k) for k in record["kept"]]
        for layer, width in enumerate(now):
            if widths is None or width < widths[layer]:
                deaths.setdefault(layer, []).append(int(record["step"]))
        widths = now
    gaps = [b - a for steps in deaths.values() for a, b in itertools.pairwise(steps)]
    return max(gaps, default=0)


def _case_specs(case: str, data: Dataset) -> tuple[ModelSpec, Any]:
    """The wide spec of a case and a function from final widths to the static spec."""
    n_in, n_out = data.n_features, data.n_outputs
    if case == "mlp":
        wide = ModelSpec(kind="mlp", in_features=n_in, out_features=n_out, hidden=(1024, 1024),
                         switch_init="uniform")
        return wide, lambda w: replace(wide, hidden=tuple(w), switches=False)
    wide = ModelSpec(kind="cnn", in_features=n_in, out_features=n_out, hidden=(32, 64),
                     dense=(128,), batchnorm=True, image_shape=data.image_shape,
                     switch_init="uniform")
    return wide, lambda w: replace(wide, hidden=tuple(w[:2]), dense=tuple(w[2:]), switches=False)


def _data(case: str, args: argparse.Namespace, seed: int) -> Dataset:
    if case == "cnn":
        return load_dataset("digits", seed=seed)
    data = load_dataset("mnist_5k", seed=seed)
    data.x_train = data.x_train.repeat(args.repeat, 1)
    data.y_train = data.y_train.repeat(args.repeat)
    return data


def _run_seed(case: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    data = _data(case, args, seed)
    wide, static = _case_specs(case, data)
    config = _config(args, seed)
    print(f"{case}, seed {seed}: {data.name}, {data.x_train.shape[0]} train rows", flush=True)
    dense = _fit("dense (λ = 0, no switches)", static(wide.hidden + wide.dense), data, config)
    sweep = {lam: _fit(f"live λ={lam:g} (no freezing)", wide, data, replace(config, lam=lam))
             for lam in args.lams}
    floor = dense.val_acc - EQUAL_ACCURACY_PT / 100
    equal = [lam for lam in args.lams if sweep[lam].val_acc >= floor]
    lam = max(equal) if equal else max(args.lams, key=lambda k: (sweep[k].val_acc, k))
    print(f"  equal-accuracy λ: {lam:g}"
          f"{'' if equal else ' (NO λ of the sweep is within 0.5 pt: the most accurate one)'}")
    live_config = replace(config, lam=lam, freeze_after_steps=args.freeze_after)
    live = _fit(f"live λ={lam:g} + freezing", wide, data, live_config)
    masked = _fit(f"masked λ={lam:g}", wide, data, replace(config, lam=lam, removal=False))
    final = [max(w, 1) for w in live.result.final_widths]
    scratch = _fit(f"from scratch {final}", static(final), data, config)
    return {
        "lam": lam, "within_0.5pt": bool(equal),
        "speedup_vs_dense_at_equal_accuracy": dense.cpu_s / live.cpu_s,
        "wall_speedup_vs_dense": dense.wall_s / live.wall_s,
        "accuracy_gap_vs_dense_pt": 100 * (dense.test_acc - live.test_acc),
        "slowdown_vs_final_from_scratch": live.cpu_s / scratch.cpu_s,
        "wall_slowdown_vs_final_from_scratch": live.wall_s / scratch.wall_s,
        "macs_live_vs_scratch": live.result.cost_macs / scratch.result.cost_macs,
        "speedup_vs_masked": masked.cpu_s / live.cpu_s,
        "freeze_speedup": sweep[lam].cpu_s / live.cpu_s,
        "freeze_accuracy_change_pt": 100 * (live.test_acc - sweep[lam].test_acc),
        "longest_quiet_gap_steps": max(_quiet_gap(t.result) for t in sweep.values()),
        "final_widths": live.result.final_widths,
        "params_dense_vs_live": dense.result.params / max(live.result.params, 1),
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over seeds of every ratio, with the per-seed values beside them."""
    out: dict[str, Any] = {}
    for key, value in rows[0].items():
        values = [r[key] for r in rows]
        if isinstance(value, float) and not isinstance(value, bool):
            out[key] = round(statistics.median(values), 3)
            out[f"{key}_per_seed"] = [round(v, 3) for v in values]
        else:
            out[key] = values if len(rows) > 1 else value
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every case and seed; print the ratios; the last line is JSON."""
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # every arm: subnormals would slow the masked one most
    print(f"torch threads {torch.get_num_threads()}, device {args.device}, epochs "
          f"{args.epochs}, seeds {args.seeds}, λ sweep {args.lams}, freeze after "
          f"{args.freeze_after} quiet steps; timing: CPU time of this process", flush=True)
    report: dict[str, Any] = {"timing": "cpu", "device": args.device, "epochs": args.epochs,
                              "seeds": args.seeds}
    for case in args.cases:
        summary = _summary([_run_seed(case, args, seed) for seed in args.seeds])
        prefix = "" if case == "mlp" else f"{case}_"
        report.update({f"{prefix}{k}": v for k, v in summary.items()})
        print(f"{case}: " + ", ".join(f"{k} {v}" for k, v in summary.items()
                                       if not k.endswith("_per_seed")), flush=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
