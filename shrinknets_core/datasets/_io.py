"""Shared pieces of the file readers: size limits, bounded reads, target selection, checks.

Every reader returns a `RawData` (features and raw targets, not yet split) or raises
`DatasetError` with the file, the problem (row/column where known) and the fix.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shrinknets_core.errors import ConfigError, DatasetError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of (decompressed) file content
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_MAX_COLUMNS = 100_000

TargetColumns = Sequence[int | str] | int | str | None
"""Which columns are targets: None = the last column; an ``int`` N = the last N columns
(Mulan multi-target convention); a ``str`` = one column by name; a sequence = columns by
name or index (negative indices count from the end)."""


@dataclass(frozen=True)
class Limits:
    """Upper bounds a user file must respect; exceeding one raises `DatasetError`."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_columns: int = DEFAULT_MAX_COLUMNS


@dataclass
class RawData:
    """Features and targets read from one file, before splitting.

    Attributes:
        x: float64 array ``(n, f)``.
        y: float64 array ``(n, k)`` of numeric targets, or a str array ``(n,)`` of labels.
        y_is_label: True when ``y`` holds class labels (text or nominal values).
        class_names: Declared class order for nominal labels (ARFF), else None.
        feature_names, target_names: Column names where the file has them.
        image_shape: ``(C, H, W)`` when the file stores images (NPZ ``x`` of 3 or 4 dims).
    """

    x: np.ndarray
    y: np.ndarray
    y_is_label: bool
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    target_names: tuple[str, ...] | None = None
    image_shape: tuple[int, int, int] | None = None


def read_bytes(path: Path, limits: Limits) -> bytes:
    """Read a file (gunzipping ``.gz``) without ever holding more than ``max_bytes``.

    Raises:
        DatasetError: missing file, a directory, too large, corrupt gzip, or empty.
    """
    if not path.exists():
        raise DatasetError(
            f"{path}: file not found; check the path (relative paths start at {Path.cwd()})"
        )
    if not path.is_file():
        raise DatasetError(f"{path}: is not a regular file; pass the path of a data file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DatasetError(
            f"{path}: file is {size} bytes, over the limit max_bytes={limits.max_bytes}; "
            "use a smaller file or raise max_bytes"
        )
    if path.name.lower().endswith(".gz"):
        try:
            # a gzip bomb is refused after streaming through it with a running count,
            # holding one chunk at a time; only a file within the limit is then read whole
            if _gunzipped_size(path, limits.max_bytes) > limits.max_bytes:
                raise DatasetError(
                    f"{path}: decompresses to more than max_bytes={limits.max_bytes} bytes; "
                    "use a smaller file or raise max_bytes"
                )
            with gzip.open(path, "rb") as handle:
                data = handle.read(limits.max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(
                f"{path}: not a valid gzip file ({exc}); re-compress it with gzip or pass "
                "the uncompressed file"
            ) from exc
    else:
        data = path.read_bytes()
    if not data.strip():
        raise DatasetError(f"{path}: file is empty; it needs a header or data rows")
    return data


_CHUNK = 1 << 20


def _gunzipped_size(path: Path, cap: int) -> int:
    """Decompressed size of a gzip file, counted chunk by chunk; stops past ``cap``."""
    total = 0
    with gzip.open(path, "rb") as handle:
        while total <= cap and (chunk := handle.read(_CHUNK)):
            total += len(chunk)
    return total


def decode_text(path: Path, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), naming the byte offset on failure."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8 "
            "(binary data belongs in an .npz file)"
        ) from exc


def check_shape(path: Path, n_rows: int, n_columns: int, limits: Limits) -> None:
    """Reject files with no rows, or more rows/columns than the limits allow."""
    if n_rows == 0:
        raise DatasetError(f"{path}: has no data rows; add rows below the header")
    if n_rows > limits.max_rows:
        raise DatasetError(
            f"{path}: has {n_rows} rows, over the limit max_rows={limits.max_rows}; "
            "subsample the file or raise max_rows"
        )
    if n_columns > limits.max_columns:
        raise DatasetError(
            f"{path}: has {n_columns} columns, over the limit of {limits.max_columns}; "
            "reduce the number of columns"
        )


def resolve_targets(
    path: Path, target_columns: TargetColumns, names: Sequence[str] | None, n_columns: int
) -> list[int]:
    """Turn a `TargetColumns` spec into sorted column indices, leaving >= 1 feature.

    Raises:
        ConfigError: unknown name, index out of range, duplicates, or no features left.
    """
    if n_columns < 2:
        raise DatasetError(
            f"{path}: has {n_columns} column; it needs at least one feature and one target column"
        )
    if target_columns is None:
        return [n_columns - 1]
    if isinstance(target_columns, bool):
        raise ConfigError(f"target_columns={target_columns!r} is not valid; {TARGET_HELP}")
    if isinstance(target_columns, int):
        if not 1 <= target_columns < n_columns:
            raise ConfigError(
                f"target_columns={target_columns} (a count of trailing target columns) must be "
                f"in 1..{n_columns - 1} for {path} ({n_columns} columns)"
            )
        return list(range(n_columns - target_columns, n_columns))
    specs: Sequence[int | str] = (
        [target_columns] if isinstance(target_columns, str) else list(target_columns)
    )
    if not specs:
        raise ConfigError(f"target_columns is empty; {TARGET_HELP}")
    indices: list[int] = []
    for spec in specs:
        if isinstance(spec, str):
            if names is None or spec not in names:
                known = f"columns are {list(names)[:20]}" if names else "the file has no header"
                raise ConfigError(
                    f"target_columns: column {spec!r} not found in {path}; {known}; "
                    "use a column name from the header or an index"
                )
            indices.append(list(names).index(spec))
        elif isinstance(spec, int) and not isinstance(spec, bool):
            if not -n_columns <= spec < n_columns:
                raise ConfigError(
                    f"target_columns: index {spec} is out of range for {path} "
                    f"({n_columns} columns: allowed {-n_columns}..{n_columns - 1})"
                )
            indices.append(spec % n_columns)
        else:
            raise ConfigError(f"target_columns: {spec!r} is not a name or an index")
    if len(set(indices)) != len(indices):
        raise ConfigError(f"target_columns={list(specs)} names the same column twice")
    if len(indices) >= n_columns:
        raise ConfigError(
            f"target_columns={list(specs)} uses all {n_columns} columns of {path}; "
            "leave at least one feature column"
        )
    return sorted(indices)


TARGET_HELP = (
    "pass None (last column), an int N (the last N columns), a column name, "
    "or a list of names/indices"
)


def column_label(index: int, names: Sequence[str] | None) -> str:
    """``column 3 ('sku1')`` — 1-based for humans, with the name when known."""
    if names is not None and index < len(names):
        return f"column {index + 1} ({names[index]!r})"
    return f"column {index + 1}"


def check_finite(
    path: Path,
    values: np.ndarray,
    columns: Sequence[int],
    names: Sequence[str] | None,
    *,
    line_of: Sequence[int] | None,
) -> None:
    """Raise naming the first NaN/inf cell.

    ``columns`` maps array columns to file columns; ``line_of`` maps rows to file lines
    (None for binary files).
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    row, col = (int(v) for v in np.argwhere(bad)[0])
    kind = "missing value (NaN)" if np.isnan(values[row, col]) else "infinite value"
    line = f" (line {line_of[row]})" if line_of is not None else ""
    raise DatasetError(
        f"{path}: {kind} at row {row + 1}{line}, {column_label(columns[col], names)}; "
        "fill or drop that row (NaN and inf are not allowed)"
    )
