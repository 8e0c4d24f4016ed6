"""Predictions of an exported model on the rows of a CSV file (``shrinknets predict``).

Which columns are features: with a header that names every feature the model was trained
on (``metadata["feature_names"]``), those columns in that order, and the target columns
when the header names them too; otherwise the first ``n_features`` columns, followed
optionally by the target columns (``n_outputs`` for regression, one class label for
classification) — the layout of a training file whose targets are its last columns.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shrinknets_core.datasets._table import is_number
from shrinknets_core.errors import DatasetError
from shrinknets_core.export._export import Exported

__all__ = ["Predictions", "predict_csv", "read_rows"]


@dataclass(frozen=True)
class Predictions:
    """Per-row predictions and, when the file had the targets, the score.

    Attributes:
        labels: predicted class labels (classification), else None.
        values: predicted targets, one list per row (regression), else None.
        accuracy: share of rows whose label matches (classification with targets).
        mse: mean squared error over rows and targets, in the data's units (regression
            with targets).
        n_rows: rows predicted.
    """

    labels: list[str] | None
    values: list[list[float]] | None
    accuracy: float | None
    mse: float | None
    n_rows: int


def read_rows(
    path: Path, metadata: dict[str, Any]
) -> tuple[torch.Tensor, list[list[str]] | None]:
    """``(features float64 (n, n_features), target cells per row or None)`` of a CSV file.

    Raises:
        DatasetError: unreadable file, wrong column count, non-numeric feature cells.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            sample = handle.read(64 * 1024)
            handle.seek(0)
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
            rows = [r for r in csv.reader(handle, dialect) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot be read as CSV ({e})") from e
    if not rows:
        raise DatasetError(f"{path}: no rows to predict")
    n_features = int(metadata["n_features"])
    n_targets = 1 if metadata["task"] == "classification" else int(metadata["n_outputs"])
    first = [c.strip() for c in rows[0]]
    names = metadata.get("feature_names") or []
    # a header names the features, or has text where features are numbers
    named = bool(names) and all(n in first for n in names)
    header = first if named or not all(is_number(c) for c in first[:n_features]) else None
    body = rows[1:] if header else rows
    if not body:
        raise DatasetError(f"{path}: has a header but no rows to predict")
    features, targets = _columns(path, header, len(rows[0]), metadata, n_features, n_targets)
    try:
        x = torch.tensor([[float(r[i]) for i in features] for r in body], dtype=torch.float64)
    except (ValueError, IndexError) as e:
        raise DatasetError(
            f"{path}: a feature cell is missing or not a number ({e}); every row needs "
            f"{n_features} numeric features"
        ) from e
    labels = [[r[i].strip() for i in targets] for r in body] if targets else None
    return x.reshape(len(body), n_features), labels


def _columns(
    path: Path, header: list[str] | None, width: int, metadata: dict[str, Any],
    n_features: int, n_targets: int,
) -> tuple[list[int], list[int]]:
    names: Sequence[str] | None = metadata.get("feature_names")
    if header is not None and names and all(n in header for n in names):
        targets = metadata.get("target_names") or []
        found = [header.index(t) for t in targets] if all(t in header for t in targets) else []
        return [header.index(n) for n in names], found
    if width == n_features:
        return list(range(n_features)), []
    if width == n_features + n_targets:
        return list(range(n_features)), list(range(n_features, width))
    expected = f"{n_features} feature columns, optionally followed by {n_targets} target column(s)"
    if names:
        expected += f", or a header naming the features ({', '.join(names[:5])}…)"
    raise DatasetError(f"{path}: has {width} columns; the model takes {expected}")


def _same_label(cell: str, name: str) -> bool:
    if cell == name:
        return True
    try:
        return math.isclose(float(cell), float(name))
    except ValueError:
        return False


def predict_csv(model: Exported, path: str | Path, *, batch_rows: int = 4096) -> Predictions:
    """Run ``model`` on every row of the CSV file ``path`` (module docstring for columns).

    Raises:
        DatasetError: the file does not fit the model.
    """
    meta = model.metadata
    x, targets = read_rows(Path(path), meta)
    with torch.no_grad():
        outs = [model.predict(x[i : i + batch_rows]) for i in range(0, len(x), batch_rows)]
    out = torch.cat(outs) if outs else torch.zeros(0, int(meta["n_outputs"]))
    if meta["task"] == "classification":
        names = meta.get("class_names") or [str(i) for i in range(int(meta["n_outputs"]))]
        labels = [str(names[i]) for i in out.argmax(dim=1).tolist()]
        accuracy = None
        if targets is not None and labels:
            hits = sum(_same_label(t[0], p) for t, p in zip(targets, labels, strict=True))
            accuracy = hits / len(labels)
        return Predictions(labels, None, accuracy, None, len(labels))
    values = out.double().tolist()
    mse = None
    if targets is not None and values:
        try:
            truth = torch.tensor([[float(c) for c in t] for t in targets], dtype=torch.float64)
        except ValueError as e:
            raise DatasetError(f"{path}: a target cell is not a number ({e})") from e
        mse = float(((out.double() - truth) ** 2).mean())
    return Predictions(None, values, None, mse, len(values))
