"""Loss, evaluation and data checks used by the trainer (data losses only, never the penalty)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet

if TYPE_CHECKING:
    from shrinknets_core.datasets import Dataset

__all__ = ["check_data", "data_loss", "evaluate"]

EVAL_CHUNK = 8192  # rows per forward pass when evaluating (no grad, so memory is small)


def data_loss(out: Tensor, y: Tensor, *, classify: bool, reduction: str = "mean") -> Tensor:
    """Cross-entropy (classification, ``y`` int64 ``(N,)``) or MSE (regression, ``(N, T)``)."""
    if classify:
        return nn.functional.cross_entropy(out, y, reduction=reduction)
    return nn.functional.mse_loss(out, y, reduction=reduction)


@torch.no_grad()
def evaluate(
    model: ShrinkNet, x: Tensor, y: Tensor, *, classify: bool
) -> tuple[float, float | None]:
    """Mean data loss and accuracy (``None`` for regression) of ``model`` on ``(x, y)``.

    Runs in eval mode (BatchNorm running stats, no dropout) in chunks of 8,192 rows and
    restores the previous mode; one device sync at the end.
    """
    n = x.shape[0]
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for begin in range(0, n, EVAL_CHUNK):
        out = model(x[begin : begin + EVAL_CHUNK])
        yb = y[begin : begin + EVAL_CHUNK]
        loss_sum += data_loss(out, yb, classify=classify, reduction="sum")
        if classify:
            correct += (out.argmax(dim=1) == yb).sum()
    model.train(was_training)
    if not classify:
        targets = y.shape[1] if y.dim() > 1 else 1  # MSE averages over targets too
        return float(loss_sum) / (n * targets), None
    return float(loss_sum) / n, float(correct) / n


def check_data(model: ShrinkNet, data: Dataset) -> None:
    """Refuse data the model cannot train on, naming the mismatch and the fix.

    Raises:
        ConfigError: features/outputs differ from the spec, val is empty, or a
            regression dataset meets a logistic model.
    """
    spec = model.spec
    if data.n_features != spec.in_features:
        raise ConfigError(
            f"dataset {data.name!r} has n_features={data.n_features} but the model's "
            f"in_features={spec.in_features}; build the model with in_features={data.n_features}"
        )
    if data.n_outputs != spec.out_features:
        raise ConfigError(
            f"dataset {data.name!r} has n_outputs={data.n_outputs} but the model's "
            f"out_features={spec.out_features}; build it with out_features={data.n_outputs}"
        )
    if data.x_val.shape[0] == 0:
        raise ConfigError(
            f"dataset {data.name!r} has an empty validation split; load it with val_fraction > 0"
        )
    if data.task == "regression" and spec.kind == "logistic":
        raise ConfigError(
            f"dataset {data.name!r} is a regression task but the model kind is 'logistic'; "
            "use kind='linear' or 'mlp'"
        )
