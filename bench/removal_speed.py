"""Benchmark (not a test): what live neuron removal saves, measured three ways in one process.

A wide MLP 784→1024→1024→10 on ``mnist_5k`` (training rows repeated to ~21k, as in
docs/method.md §5) is trained with a λ that shrinks it ≥ 8× in parameters:

1. **masked** — the same λ, dead neurons only masked (``removal=False``): full-width compute;
2. **live removal** — the same run, dead neurons physically removed every N steps;
3. **from scratch** — a static net (``switches=False``) of the widths (2) ended with,
   trained for the same epochs with the same optimizer and λ₂.

Printed ratios (wall time of ``Trainer.fit``, which includes per-epoch validation):

- ``speedup_vs_masked`` = time(masked) / time(live removal)   — target ≥ 3;
- ``slowdown_vs_final_from_scratch`` = time(live removal) / time(from scratch) — target ≤ 1.5;
- ``accuracy_drop_pt`` = 100 × (test accuracy(masked) − test accuracy(live removal)): what
  physical removal costs in accuracy against the masked wide net it replaces — target ≤ 0.5.
  (Removal is exact, so this is float-rounding noise.) The accuracy of the shrunk net against
  the same widths trained from scratch is printed on the line before, for information.

Defaults, and why: β₀ ~ U(−1, 1) (``switch_init="uniform"``) and the β step normalised
per layer (``lam_scale="grad"``, ``beta_max=1``, ``beta_lr=0.05``, λ = 0.0625; see
``shrinknets_core.training._optim``), γ = 0.9, removal every 5 steps: λ acts from the first steps
(1024 → ~40 per layer within epoch 1) and the widths settle (≈15/19 from epoch 7 on).
Measured in one session (noisy 2-core machine; MACs are the steadier number): this setup
slowdown 1.57× (MACs live/scratch 2.7×), the old defaults (plain SGD step, ``beta_lr=20``,
λ = 5e-4, γ = 0.99: 1024 → 465 after epoch 1, 37/20 at the end) 2.29× (MACs 6.2×).
The plain step at larger λ (``--lam-scale none --lam 1e-3 --beta-lr 10``) shrinks sooner but
was unstable: once the net is narrow, β's gradients grow and unbounded SGD on β diverged
(β reached 1e5, accuracy fell to 10% after 5–8 epochs); ``--beta-max 1`` bounds it.
The run configuration is printed first.
Everything runs on CPU, one torch thread, unless ``--device``/``--threads`` say otherwise
(timings of the three runs are only comparable within one invocation). The last line is JSON.

Usage: ``python bench/removal_speed.py [--quick] [--epochs N] [--threads N] ...``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import torch

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import TrainConfig, Trainer, TrainResult

WIDE = (1024, 1024)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter run (3 epochs)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default 10, quick 3)")
    ap.add_argument("--repeat", type=int, default=None, help="train rows repeated (default 6)")
    ap.add_argument("--lam", type=float, default=0.0625)
    ap.add_argument("--beta-lr", type=float, default=0.05)
    ap.add_argument("--switch-init", default="uniform", choices=["ones", "uniform", "normal"])
    ap.add_argument("--dead-rule", default="sign_variance",
                    choices=["sign_variance", "magnitude", "none"])
    ap.add_argument("--lam-scale", default="grad", choices=["none", "grad"],
                    help="β step: plain SGD (none) or normalised per layer (grad)")
    ap.add_argument("--beta-max", type=float, default=1.0,
                    help="box |β| ≤ beta_max (≤ 0: no box, the old step)")
    ap.add_argument("--gamma", type=float, default=0.9, help="sign-variance γ")
    ap.add_argument("--every", type=int, default=5, help="remove every N optimizer steps")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a shared 2-core machine, "
                         "more threads make small steps wait on each other)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.epochs = args.epochs or (3 if args.quick else 10)
    args.repeat = args.repeat or 6
    args.beta_max = args.beta_max if args.beta_max is not None and args.beta_max > 0 else None
    return args


def _data(repeat: int, seed: int) -> Dataset:
    data = load_dataset("mnist_5k", seed=seed)
    data.x_train = data.x_train.repeat(repeat, 1)
    data.y_train = data.y_train.repeat(repeat)
    return data


def _fit(name: str, spec: ModelSpec, data: Dataset, config: TrainConfig) -> TrainResult:
    model = build_model(spec, seed=config.seed)
    trainer = Trainer(model, data, config)

    def report(_: Trainer, r: object) -> None:
        assert hasattr(r, "epoch")
        print(f"  [{name}] epoch {r.epoch}: widths {r.widths} "  # type: ignore[attr-defined]
              f"val_acc {r.val_accuracy:.4f} {r.wall_time_s:.2f}s", flush=True)  # type: ignore[attr-defined]

    trainer.add_callback("on_epoch_end", report)
    result = trainer.fit()
    print(f"{name}: {result.wall_time_s:.2f}s, widths {result.final_widths}, "
          f"params {result.params}, test_acc {result.test_accuracy:.4f}", flush=True)
    return result


def _warm_up(data: Dataset, config: TrainConfig) -> None:
    """One tiny untimed fit: the first optimizer step of a process pays one-off lazy imports."""
    spec = ModelSpec(kind="mlp", in_features=data.n_features, out_features=data.n_outputs,
                     hidden=(8,))
    Trainer(build_model(spec, seed=0), data, replace(config, epochs=1, batch_size=4096)).fit()


def main(argv: list[str] | None = None) -> int:
    """Run the three trainings and print the ratios; the last line is JSON."""
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = _data(args.repeat, args.seed)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lam=args.lam, beta_lr=args.beta_lr,
        dead_rule=args.dead_rule, removal_every_steps=args.every, device=args.device,
        seed=args.seed, lam_scale=args.lam_scale, beta_max=args.beta_max, gamma=args.gamma,
    )
    print(f"mnist_5k: {data.x_train.shape[0]} train rows, {data.x_test.shape[0]} test rows; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    print("config:", json.dumps({**config.to_dict(), "switch_init": args.switch_init}), flush=True)
    _warm_up(data, config)
    wide = ModelSpec(kind="mlp", in_features=784, out_features=10, hidden=WIDE,
                     switch_init=args.switch_init)
    start = time.perf_counter()
    masked = _fit("masked", wide, data, replace(config, removal=False))
    live = _fit("live removal", wide, data, config)
    final = tuple(max(w, 1) for w in live.final_widths)
    static = ModelSpec(kind="mlp", in_features=784, out_features=10, hidden=final, switches=False)
    scratch = _fit("from scratch", static, data, config)
    wide_params = build_model(wide, seed=0).param_count()
    factor = wide_params / max(live.params, 1)
    print(f"shrink: {wide_params} -> {live.params} params ({factor:.1f}x"
          f"{'' if factor >= 8 else ', LESS than the 8x this benchmark asks for: raise --lam'})")
    print(f"cost_macs: masked {masked.cost_macs:.3e}, live {live.cost_macs:.3e}, "
          f"scratch {scratch.cost_macs:.3e}; cost_inputs: masked {masked.cost_inputs:.0f}, "
          f"live {live.cost_inputs:.0f}, scratch {scratch.cost_inputs:.0f}")
    assert masked.test_accuracy is not None and live.test_accuracy is not None
    assert scratch.test_accuracy is not None
    gain = 100 * (live.test_accuracy - scratch.test_accuracy)
    print(f"accuracy: masked {masked.test_accuracy:.4f}, live {live.test_accuracy:.4f}, "
          f"from scratch {scratch.test_accuracy:.4f} (shrunk net vs scratch: {gain:+.2f} pt); "
          f"total {time.perf_counter() - start:.1f}s", flush=True)
    print(json.dumps({
        "speedup_vs_masked": round(masked.wall_time_s / live.wall_time_s, 3),
        "slowdown_vs_final_from_scratch": round(live.wall_time_s / scratch.wall_time_s, 3),
        "accuracy_drop_pt": round(100 * (masked.test_accuracy - live.test_accuracy), 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
