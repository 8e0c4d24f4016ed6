"""User data files: pick the reader by suffix, then turn raw targets into a task's targets.

Supported: ``.csv``, ``.csv.gz``, ``.npz``, ``.arff``, ``.arff.gz``. Every problem raises
`DatasetError` naming the file, the problem (row/column where known) and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shrinknets_core.datasets._arff import parse_arff
from shrinknets_core.datasets._csvfile import parse_csv
from shrinknets_core.datasets._io import Limits, RawData, TargetColumns, decode_text, read_bytes
from shrinknets_core.datasets._npz import read_npz
from shrinknets_core.datasets._types import TASKS, Task
from shrinknets_core.errors import ConfigError, DatasetError

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".npz", ".arff", ".arff.gz")
MAX_INFERRED_CLASSES = 50
"""A single integer-valued target with at most this many distinct values is taken as
class labels when ``task`` is not given; otherwise the task is regression."""
MAX_CLASSES = 10_000


def file_format(path: Path) -> str | None:
    """The supported suffix ``path`` ends with (case-insensitive), or None."""
    name = path.name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if name.endswith(suffix)), None)


def read_file(path: Path, *, target_columns: TargetColumns, limits: Limits) -> RawData:
    """Read a user data file into features and raw targets.

    Raises:
        DatasetError: unsupported suffix, missing file, or any malformed content.
        ConfigError: target_columns that do not fit the file.
    """
    suffix = file_format(path)
    if suffix is None:
        raise DatasetError(
            f"{path}: unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if suffix == ".npz":
        return read_npz(path, target_columns=target_columns, limits=limits)
    text = decode_text(path, read_bytes(path, limits))
    parse = parse_arff if suffix.startswith(".arff") else parse_csv
    return parse(path, text, target_columns=target_columns, limits=limits)


def _first_non_number(labels: np.ndarray) -> tuple[int, str]:
    for row, label in enumerate(labels.tolist()):
        try:
            float(label)
        except ValueError:
            return row, str(label)
    return 0, str(labels[0])


def encode_targets(
    source: str, raw: RawData, task: Task | None
) -> tuple[Task, np.ndarray, tuple[str, ...] | None]:
    """Decide the task and encode targets.

    Args:
        source: File or dataset name, for messages.
        raw: What a reader returned.
        task: ``"classification"``, ``"regression"`` or None to infer: text/nominal labels
            or one integer-valued column with 2..`MAX_INFERRED_CLASSES` distinct values
            mean classification, anything else regression.

    Returns:
        ``(task, y, class_names)``: int64 codes ``(n,)`` 0..K-1 with K class names, or
        float64 ``(n, k)`` regression targets with None.

    Raises:
        ConfigError: unknown task, or classification asked for several target columns.
        DatasetError: text targets for regression, non-integer class values, one class.
    """
    if task is not None and task not in TASKS:
        raise ConfigError(f"task={task!r} is not allowed; use one of {list(TASKS)} or None")
    y = raw.y
    if task is None:
        integral = (
            not raw.y_is_label
            and y.shape[1] == 1
            and bool(np.all(y == np.round(y)))
            and 2 <= np.unique(y).size <= MAX_INFERRED_CLASSES
        )
        task = "classification" if raw.y_is_label or integral else "regression"
    if task == "regression":
        if raw.y_is_label:
            row, label = _first_non_number(y)
            raise DatasetError(
                f"{source}: target column holds text {label!r} (row {row + 1}), which cannot be "
                "regressed; choose numeric target columns or pass task='classification'"
            )
        return task, y, None
    if not raw.y_is_label and y.shape[1] != 1:
        raise ConfigError(
            f"task='classification' needs one target column, {source} has {y.shape[1]}; "
            "pick one with target_columns or use task='regression'"
        )
    if raw.class_names is not None:
        names = raw.class_names
        lookup = {name: code for code, name in enumerate(names)}
        codes = np.array([lookup[str(label)] for label in y.tolist()], dtype=np.int64)
    elif raw.y_is_label:
        unique, codes = np.unique(y, return_inverse=True)
        names = tuple(str(value) for value in unique.tolist())
    else:
        column = y[:, 0]
        fractional = np.flatnonzero(column != np.round(column))
        if fractional.size:
            row = int(fractional[0])
            raise DatasetError(
                f"{source}: class value {column[row]!r} at row {row + 1} is not an integer; "
                "classification targets must be labels or integers (or use task='regression')"
            )
        unique, codes = np.unique(column, return_inverse=True)
        names = tuple(str(int(value)) for value in unique.tolist())
    if len(names) < 2 or np.unique(codes).size < 2:
        raise DatasetError(
            f"{source}: the target has a single class {names[:1]}; classification needs at "
            "least two classes (check target_columns)"
        )
    if len(names) > MAX_CLASSES:
        raise DatasetError(
            f"{source}: the target has {len(names)} classes (limit {MAX_CLASSES}); is it "
            "really a class label? Pass task='regression' for numeric targets"
        )
    return task, np.asarray(codes, dtype=np.int64).reshape(-1), names
