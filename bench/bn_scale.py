"""Benchmark (not a test): does λ see the data when a BatchNorm follows a switch's consumer?

The digits CNN of the paper's §6.3 (conv 32 → conv 64 → dense 128, a BatchNorm in every
conv block) trains with the plain proximal β step at one λ, side by side in one process:

* ``free``: β's scale left free (``TrainConfig(pin_bn_scale=False)``): the next BatchNorm
  absorbs any common scale of a conv layer's β, so λ‖β‖₁ shrinks it at ``beta_lr·λ`` per
  step whatever the data;
* ``pinned``: after every step such a layer's β is rescaled to ``max|β| = 1``
  (``shrinknets_core.training._optim``; the default).

Each runs on the real labels and on shuffled training labels (nothing to learn). If the
widths depend on the data, real and shuffled labels must end differently; if they record
λ × steps only, the first layer's mean |β| falls by the same amount per epoch on both.

Prints one JSON line per run (final widths, validation accuracy, the first conv layer's
mean |β| after every epoch) and a last JSON line with, per formulation, the median over
seeds of the first-layer |β| drop in epoch 1 on real and shuffled labels and the widths.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import TrainConfig, Trainer


def shuffled(data: Dataset, seed: int) -> Dataset:
    """The same data with the training labels permuted (validation labels kept)."""
    g = torch.Generator().manual_seed(seed)
    return dataclasses.replace(data, y_train=data.y_train[torch.randperm(len(data.y_train),
                                                                          generator=g)])


def run(data: Dataset, *, pin: bool, lam: float, epochs: int, seed: int) -> dict[str, Any]:
    """One training; returns its line."""
    spec = ModelSpec(kind="cnn", in_features=data.n_features, out_features=data.n_outputs,
                     hidden=(32, 64), dense=(128,), image_shape=data.image_shape)
    config = TrainConfig(epochs=epochs, batch_size=64, lam=lam, beta_lr=0.5, gamma=0.99,
                         device="cpu", pin_bn_scale=pin, seed=seed)
    trainer = Trainer(build_model(spec, seed=seed), data, config)
    first = float(trainer.model.switches()[0].beta.detach().abs().mean())
    betas: list[float] = [first]

    def record(t: Trainer, _record: Any) -> None:
        betas.append(float(t.model.switches()[0].beta.detach().abs().mean()))

    trainer.add_callback("on_epoch_end", record)
    cpu = time.process_time()
    result = trainer.fit()
    return {
        "final_widths": list(result.final_widths), "val_accuracy": result.val_accuracy,
        "beta1_mean_abs": [round(b, 3) for b in betas],
        "cpu_s": round(time.process_time() - cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lam", type=float, default=0.03)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    print(f"# {time.strftime('%Y-%m-%d')}: digits CNN, λ {args.lam:g}, {args.epochs} epochs, "
          f"seeds 0..{args.seeds - 1}", flush=True)
    base = load_dataset("digits", seed=0)
    rows = []
    for seed in range(args.seeds):
        for pin in (False, True):
            for labels, data in (("real", base), ("shuffled", shuffled(base, seed))):
                line = {"seed": seed, "scale": "pinned" if pin else "free", "labels": labels,
                        **run(data, pin=pin, lam=args.lam, epochs=args.epochs, seed=seed)}
                rows.append(line)
                print(json.dumps(line), flush=True)
    summary: dict[str, Any] = {}
    for scale in ("free", "pinned"):
        for labels in ("real", "shuffled"):
            mine = [r for r in rows if r["scale"] == scale and r["labels"] == labels]
            summary[f"{scale}_{labels}"] = {
                "beta1_drop_epoch1": statistics.median(
                    r["beta1_mean_abs"][0] - r["beta1_mean_abs"][1] for r in mine
                ),
                "final_widths": [r["final_widths"] for r in mine],
                "val_accuracy": statistics.median(r["val_accuracy"] for r in mine),
            }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
