"""Evaluation metrics of the paper: input sparsity, normalised loss, accuracy, MSE.

All functions take tensors (any device) and return plain Python floats, so results can go
straight into JSON histories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from shrinknets_core.errors import ConfigError

__all__ = ["accuracy", "mse", "normalise_losses", "sparsity"]


def sparsity(weight: Tensor, *, tol: float = 1e-3) -> float:
    """Fraction of input columns whose weights are all below ``tol`` in absolute value.

    This is the paper's sparsity of a layer: an input whose every outgoing weight is
    (near) zero no longer influences the output.

    Args:
        weight: ``(out, in)`` weight of a linear layer (columns are dim 1), or a conv
            weight ``(out, in, kh, kw)`` whose input channels are the columns. A 1-D
            tensor counts each entry as its own column.
        tol: Absolute threshold, > 0.

    Returns:
        ``#dead columns / #columns`` in [0, 1].

    Raises:
        ConfigError: ``tol`` not positive, or an empty/0-d weight.
    """
    if not tol > 0:
        raise ConfigError(f"tol={tol!r} must be > 0 (the paper uses 1e-3)")
    if weight.ndim == 0 or weight.numel() == 0:
        raise ConfigError(
            f"weight of shape {tuple(weight.shape)} has no input columns; pass a layer weight "
            "of shape (out, in) or (out, in, kh, kw)"
        )
    with torch.no_grad():
        columns = weight.reshape(1, -1) if weight.ndim == 1 else weight.transpose(0, 1)
        per_column = columns.reshape(columns.shape[0], -1).abs().amax(dim=1)
        return float((per_column < tol).float().mean().item())


def normalise_losses(values: Sequence[float]) -> list[float]:
    """Min-max normalise the losses of a set of runs to [0, 1].

    Args:
        values: One loss per run.

    Returns:
        ``(v - min) / (max - min)`` per value (the best run is 0, the worst 1); all zeros
        when every value is equal; an empty list for no values.

    Raises:
        ConfigError: a NaN or infinite loss (drop diverged runs first).
    """
    floats = [float(value) for value in values]
    for index, value in enumerate(floats):
        if not math.isfinite(value):
            raise ConfigError(
                f"values[{index}]={value!r} is not a finite loss; drop diverged runs before "
                "normalising"
            )
    if not floats:
        return []
    low, high = min(floats), max(floats)
    if high == low:
        return [0.0 for _ in floats]
    return [(value - low) / (high - low) for value in floats]


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose arg-max logit equals the label.

    Args:
        logits: ``(n, K)`` scores.
        y: ``(n,)`` integer labels in 0..K-1.

    Returns:
        Accuracy in [0, 1].

    Raises:
        ConfigError: shapes that do not match, or no rows.
    """
    if logits.ndim != 2 or y.ndim != 1 or logits.shape[0] != y.shape[0]:
        raise ConfigError(
            f"accuracy needs logits (n, K) and labels (n,), got {tuple(logits.shape)} and "
            f"{tuple(y.shape)}"
        )
    if y.shape[0] == 0:
        raise ConfigError("accuracy of zero rows is undefined; pass at least one row")
    with torch.no_grad():
        return float((logits.argmax(dim=1) == y.to(logits.device)).float().mean().item())


def mse(pred: Tensor, y: Tensor) -> float:
    """Mean squared error over all elements.

    Args:
        pred: Predictions ``(n, k)`` (or ``(n,)``).
        y: Targets of the same shape; ``(n,)`` is accepted for ``(n, 1)`` predictions.

    Returns:
        ``mean((pred - y)**2)``.

    Raises:
        ConfigError: shapes that do not match, or no elements.
    """
    if pred.ndim == 0 or y.ndim == 0 or pred.shape[0] != y.shape[0]:
        raise ConfigError(f"mse needs equal shapes, got {tuple(pred.shape)} and {tuple(y.shape)}")
    flat_pred, flat_y = pred.reshape(pred.shape[0], -1), y.reshape(y.shape[0], -1)
    if flat_pred.shape != flat_y.shape:
        raise ConfigError(f"mse needs equal shapes, got {tuple(pred.shape)} and {tuple(y.shape)}")
    if pred.numel() == 0:
        raise ConfigError("mse of zero elements is undefined; pass at least one row")
    with torch.no_grad():
        diff = flat_pred.float() - flat_y.to(pred.device).float()
        return float(diff.pow(2).mean().item())
