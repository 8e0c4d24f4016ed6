"""Deterministic train/val/test splits and standardisation fitted on the training split.

Splits depend only on ``seed`` and the data's row count (and class labels when stratified),
so the same call returns the same rows on every machine. Classification splits are
stratified when every class has enough rows; otherwise they fall back to a plain shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from shrinknets_core.datasets._types import Dataset, Task
from shrinknets_core.errors import ConfigError, DatasetError

Scaling = Literal["feature", "global"]
"""``feature``: one mean/std per column (tabular data). ``global``: one mean/std over all
values (image pixels, where per-pixel statistics blow up rarely-lit pixels)."""

MAX_FRACTION = 0.9


@dataclass(frozen=True)
class Meta:
    """Descriptive fields copied onto the `Dataset`."""

    name: str
    label: str
    image_shape: tuple[int, int, int] | None
    stand_in_for: str | None
    source: str


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for field, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value <= MAX_FRACTION:
            raise ConfigError(f"{field}={value!r} is out of range; allowed 0.0..{MAX_FRACTION}")
    if val_fraction + test_fraction > MAX_FRACTION:
        raise ConfigError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves too little "
            f"training data; keep the sum <= {MAX_FRACTION}"
        )


def _take(
    indices: np.ndarray, size: int, seed: int, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, taken) with ``size`` taken rows, stratified if possible."""
    if size == 0:
        return indices, indices[:0]
    stratify = labels[indices] if labels is not None else None
    try:
        rest, taken = train_test_split(
            indices, test_size=size, random_state=seed, stratify=stratify
        )
    except ValueError:  # a class too small to stratify: plain shuffle instead
        rest, taken = train_test_split(indices, test_size=size, random_state=seed)
    return np.sort(rest), np.sort(taken)


def split_indices(
    n_rows: int,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint, sorted row indices ``(train, val, test)`` covering ``range(n_rows)``.

    A non-zero fraction always gets at least one row. ``labels`` (class codes) turn on
    stratification.

    Raises:
        ConfigError: fractions out of range.
        DatasetError: too few rows to make the requested splits.
    """
    _check_fractions(val_fraction, test_fraction)
    n_test = max(1, round(n_rows * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n_rows * val_fraction)) if val_fraction > 0 else 0
    if n_rows - n_test - n_val < 1:
        raise DatasetError(
            f"only {n_rows} rows: too few for a training split with val_fraction="
            f"{val_fraction} and test_fraction={test_fraction}; supply more rows"
        )
    indices = np.arange(n_rows)
    rest, test = _take(indices, n_test, seed, labels)
    train, val = _take(rest, n_val, seed + 1, labels)
    return train, val, test


def _stats(values: np.ndarray, scaling: Scaling) -> tuple[np.ndarray, np.ndarray]:
    if scaling == "global":
        mean = np.full(values.shape[1], values.mean())
        std = np.full(values.shape[1], values.std())
    else:
        mean, std = values.mean(axis=0), values.std(axis=0)
    std = np.where(std < 1e-12, 1.0, std)  # constant columns: centre only
    return mean, std


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def _stat_tensor(values: np.ndarray) -> torch.Tensor:
    """Statistics stay float64: the exported network standardises raw rows with them and
    must give bit for bit the float32 features training saw."""
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: Task,
    n_outputs: int,
    meta: Meta,
    class_names: tuple[str, ...] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    scaling: Scaling = "feature",
    feature_names: tuple[str, ...] | None = None,
    target_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Split, standardise with training statistics, and wrap as tensors.

    Args:
        x: ``(n, f)`` features.
        y: int64 codes ``(n,)`` (classification) or ``(n, k)`` floats (regression).
        task: The learning task.
        n_outputs: Number of classes or targets.
        meta: Name, label, image shape, stand-in and source.
        class_names: Class names in code order (classification).
        seed: Split seed.
        val_fraction, test_fraction: Split sizes.
        scaling: How features are standardised (see `Scaling`). Regression targets are
            always standardised per column with training statistics.
        feature_names, target_names: Column names where the file has them.

    Returns:
        The `Dataset`, with the statistics used in ``x_mean``/``x_std``/``y_mean``/``y_std``
        (float64) and the file rows of its test split in ``test_rows``.
    """
    labels = y if task == "classification" else None
    train, val, test = split_indices(
        x.shape[0], seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
        labels=labels,
    )
    x_mean, x_std = _stats(x[train], scaling)
    xs = [_tensor((x[part] - x_mean) / x_std) for part in (train, val, test)]
    y_mean_t: torch.Tensor | None = None
    y_std_t: torch.Tensor | None = None
    if task == "classification":
        ys = [torch.from_numpy(np.asarray(y[part], dtype=np.int64)) for part in (train, val, test)]
    else:
        y_mean, y_std = _stats(y[train], "feature")
        ys = [_tensor((y[part] - y_mean) / y_std) for part in (train, val, test)]
        y_mean_t, y_std_t = _stat_tensor(y_mean), _stat_tensor(y_std)
    return Dataset(
        name=meta.name,
        label=meta.label,
        task=task,
        x_train=xs[0],
        y_train=ys[0],
        x_val=xs[1],
        y_val=ys[1],
        x_test=xs[2],
        y_test=ys[2],
        n_features=int(x.shape[1]),
        n_outputs=n_outputs,
        image_shape=meta.image_shape,
        stand_in_for=meta.stand_in_for,
        source=meta.source,
        class_names=class_names,
        x_mean=_stat_tensor(x_mean),
        x_std=_stat_tensor(x_std),
        y_mean=y_mean_t,
        y_std=y_std_t,
        feature_names=feature_names,
        target_names=target_names,
        test_rows=torch.from_numpy(np.asarray(test, dtype=np.int64)),
    )
