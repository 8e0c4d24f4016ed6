"""Delimited rows → `RawData`, shared by the CSV and ARFF readers.

Numeric columns are parsed by ``numpy.loadtxt`` (C speed); only when that fails is the
file scanned in Python to name the first bad cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from shrinknets_core.datasets._io import (
    Limits,
    RawData,
    TargetColumns,
    check_finite,
    check_shape,
    column_label,
    resolve_targets,
)
from shrinknets_core.errors import DatasetError

QUOTES = "\"'"


def is_number(field: str) -> bool:
    """True when ``float(field)`` succeeds."""
    try:
        float(field)
    except ValueError:
        return False
    return True


def split_fields(line: str, delimiter: str) -> list[str]:
    """Split one row and strip blanks and quotes from every field."""
    return [field.strip().strip(QUOTES).strip() for field in line.split(delimiter)]


def _bad_cell(
    path: Path,
    rows: Sequence[str],
    columns: Sequence[int],
    names: Sequence[str] | None,
    delimiter: str,
    line_of: Sequence[int],
) -> DatasetError:
    """Find the first cell of ``columns`` that is not a number (slow path, errors only)."""
    for row, line in enumerate(rows):
        fields = split_fields(line, delimiter)
        for column in columns:
            field = fields[column]
            if is_number(field):
                continue
            where = f"row {row + 1} (line {line_of[row]}), {column_label(column, names)}"
            if field in ("", "?"):
                return DatasetError(
                    f"{path}: missing value {field!r} at {where}; fill or drop that row"
                )
            return DatasetError(
                f"{path}: text {field!r} in a numeric column at {where}; numeric columns must "
                "hold numbers (if this column holds class labels, make it the only target "
                "with target_columns)"
            )
    return DatasetError(f"{path}: could not parse the numeric columns; check the file format")


def _nominal_codes(
    path: Path,
    values: np.ndarray,
    allowed: tuple[str, ...],
    column: int,
    names: Sequence[str] | None,
    line_of: Sequence[int],
) -> np.ndarray:
    """Map declared nominal values to their codes 0..len(allowed)-1."""
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    for code, value in enumerate(allowed):
        codes[values == value] = code
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        row = int(bad[0])
        raise DatasetError(
            f"{path}: value {str(values[row])!r} at row {row + 1} (line {line_of[row]}), "
            f"{column_label(column, names)} is not one of the declared values {list(allowed)}; "
            "fix the value or the @attribute declaration"
        )
    return codes


def _take_columns(values: np.ndarray, indices: list[int]) -> np.ndarray:
    """Columns of ``values``; a slice (no fancy-indexing gather) when they are consecutive."""
    if indices and indices == list(range(indices[0], indices[0] + len(indices))):
        return values[:, indices[0] : indices[0] + len(indices)]
    return np.take(values, indices, axis=1)


def parse_rows(
    path: Path,
    rows: Sequence[str],
    *,
    names: Sequence[str] | None,
    line_of: Sequence[int],
    delimiter: str,
    quotechar: str,
    target_columns: TargetColumns,
    limits: Limits,
    nominal: Mapping[int, tuple[str, ...]] | None = None,
    text_labels: bool = True,
) -> RawData:
    """Parse data rows into features and targets.

    Args:
        path: Source file, for messages.
        rows: Data lines (no header, no blank lines).
        names: Column names, or None.
        line_of: File line number of each row (for messages).
        delimiter: Field separator.
        quotechar: Quote character of the format.
        target_columns: See `TargetColumns`.
        limits: Row/column limits.
        nominal: Declared values of nominal columns (ARFF); they are coded 0..V-1.
        text_labels: Whether a single text target column becomes class labels (CSV).

    Raises:
        DatasetError: ragged rows, bad cells, NaN/inf, or limits exceeded.
        ConfigError: target_columns that do not fit.
    """
    nominal = nominal or {}
    n_columns = rows[0].count(delimiter) + 1 if rows else len(names or ())
    check_shape(path, len(rows), n_columns, limits)
    counts = [line.count(delimiter) for line in rows]
    ragged = [i for i, count in enumerate(counts) if count != n_columns - 1]
    if names is not None and len(names) != n_columns:
        ragged = [0]
        n_columns = len(names)
    if ragged:
        row = ragged[0]
        raise DatasetError(
            f"{path}: row {row + 1} (line {line_of[row]}) has {counts[row] + 1} columns, "
            f"expected {n_columns}; fix or delete that row"
        )
    targets = resolve_targets(path, target_columns, names, n_columns)
    features = [i for i in range(n_columns) if i not in targets]
    nominal_targets = len(targets) == 1 and targets[0] in nominal
    label_column = targets[0] if text_labels and len(targets) == 1 else None
    options = {"delimiter": delimiter, "quotechar": quotechar, "ndmin": 2}

    def load(columns: list[int], dtype: type) -> np.ndarray:
        if not columns:
            return np.empty((len(rows), 0), dtype=dtype)
        return np.loadtxt(rows, dtype=dtype, usecols=columns, **options)  # type: ignore[call-overload]

    # One pass over all numeric columns; only if that fails is a text label column split off.
    parsed_columns = [i for i in range(n_columns) if i not in nominal]
    labels: np.ndarray | None = None
    try:
        parsed = load(parsed_columns, np.float64)
    except ValueError:
        if label_column is None:
            raise _bad_cell(path, rows, parsed_columns, names, delimiter, line_of) from None
        parsed_columns = [i for i in parsed_columns if i != label_column]
        try:
            parsed = load(parsed_columns, np.float64)
        except ValueError:
            raise _bad_cell(path, rows, parsed_columns, names, delimiter, line_of) from None
        labels = np.char.strip(np.char.strip(load([label_column], str)[:, 0]), QUOTES)
        if np.any((labels == "") | (labels == "?")):
            raise _bad_cell(path, rows, [label_column], names, delimiter, line_of) from None
    position = {column: k for k, column in enumerate(parsed_columns)}
    text_columns = sorted(nominal)
    loaded = load(text_columns, str)
    text = {
        column: np.char.strip(np.char.strip(loaded[:, k]), QUOTES)
        for k, column in enumerate(text_columns)
    }

    def gather(columns: list[int]) -> np.ndarray:
        numeric = [k for k, column in enumerate(columns) if column not in nominal]
        if len(numeric) == len(columns):
            return _take_columns(parsed, [position[column] for column in columns])
        out = np.empty((len(rows), len(columns)), dtype=np.float64)
        out[:, numeric] = parsed[:, [position[columns[k]] for k in numeric]]
        for k, column in enumerate(columns):
            if column in nominal:
                out[:, k] = _nominal_codes(
                    path, text[column], nominal[column], column, names, line_of
                )
        return out

    x = gather(features)
    check_finite(path, x, features, names, line_of=line_of)
    feature_names = tuple(names[i] for i in features) if names else None
    target_names = tuple(names[i] for i in targets) if names else None
    if labels is not None:
        return RawData(x, labels, True, None, feature_names, target_names)
    if nominal_targets:
        column = targets[0]
        _nominal_codes(path, text[column], nominal[column], column, names, line_of)
        return RawData(x, text[column], True, nominal[column], feature_names, target_names)
    y = gather(targets)
    check_finite(path, y, targets, names, line_of=line_of)
    return RawData(x, y, False, None, feature_names, target_names)
