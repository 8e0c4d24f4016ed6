"""NPZ reader: arrays ``x`` (or ``X``) and ``y``, checked before anything is decompressed.

A zip archive can declare small compressed sizes and expand enormously, and a ``.npy``
header can declare a shape far larger than its bytes; both are checked against
``max_bytes`` before ``numpy.load`` allocates anything. Pickled (object) arrays are refused.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from shrinknets_core.datasets._io import (
    TARGET_HELP,
    Limits,
    RawData,
    TargetColumns,
    check_finite,
    check_shape,
)
from shrinknets_core.errors import ConfigError, DatasetError

_FEATURE_KEYS = ("x", "X")


def _check_archive(path: Path, limits: Limits) -> None:
    """Reject archives whose declared sizes or array shapes exceed ``max_bytes``."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(
            f"{path}: not a valid .npz (zip) file ({exc}); save it with numpy.savez"
        ) from exc
    with archive:
        members = archive.infolist()
        declared = sum(member.file_size for member in members)
        if declared > limits.max_bytes:
            raise DatasetError(
                f"{path}: archive declares {declared} uncompressed bytes, over the limit "
                f"max_bytes={limits.max_bytes}; use a smaller file or raise max_bytes"
            )
        for member in members:
            if not member.filename.endswith(".npy"):
                continue
            with archive.open(member) as handle:
                try:
                    version = np.lib.format.read_magic(handle)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(handle)
                except ValueError as exc:
                    raise DatasetError(
                        f"{path}: array {member.filename!r} has a bad .npy header ({exc}); "
                        "save it again with numpy.savez"
                    ) from exc
            if dtype.hasobject:
                raise DatasetError(
                    f"{path}: array {member.filename!r} holds Python objects (needs pickle), "
                    "which is refused for safety; save numeric or string arrays"
                )
            size = math.prod(shape) * dtype.itemsize
            if size > member.file_size:
                raise DatasetError(
                    f"{path}: array {member.filename!r} declares shape {shape} ({size} bytes) "
                    f"but its archive entry holds only {member.file_size} bytes; the file is "
                    "corrupt, save it again with numpy.savez"
                )


def _select_targets(path: Path, y: np.ndarray, target_columns: TargetColumns) -> np.ndarray:
    """Apply ``target_columns`` (indices or a trailing count) to the columns of ``y``."""
    if target_columns is None:
        return y
    if isinstance(target_columns, bool):
        raise ConfigError(f"target_columns={target_columns!r} is not valid; {TARGET_HELP}")
    if y.ndim == 1:
        y = y[:, None]
    k = y.shape[1]
    if isinstance(target_columns, int):
        if not 1 <= target_columns <= k:
            raise ConfigError(
                f"target_columns={target_columns} (a count of trailing targets) must be in "
                f"1..{k} for {path} (y has {k} columns)"
            )
        return y[:, k - target_columns :]
    specs = [target_columns] if isinstance(target_columns, str) else list(target_columns)
    if not specs or not all(isinstance(s, int) and -k <= s < k for s in specs):
        raise ConfigError(
            f"target_columns={target_columns!r} does not fit {path}: in an .npz file it selects "
            f"columns of y by index ({-k}..{k - 1}); {TARGET_HELP}"
        )
    return y[:, [int(s) for s in specs]]


def read_npz(path: Path, *, target_columns: TargetColumns, limits: Limits) -> RawData:
    """Read features ``x``/``X`` and targets ``y`` from an ``.npz`` file.

    ``x`` may have more than two dimensions (e.g. images ``(n, C, H, W)``); it is flattened
    to ``(n, features)``. ``y`` may be 1-D (labels or one target) or 2-D ``(n, targets)``;
    a 1-D string array holds class labels.

    Raises:
        DatasetError: not a zip, zip bomb or oversized array, object arrays, missing
            arrays, mismatched lengths, non-numeric data, NaN/inf, or limits exceeded.
        ConfigError: target_columns that do not fit ``y``.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: file not found; check the path")
    if path.stat().st_size > limits.max_bytes:
        raise DatasetError(
            f"{path}: file is over the limit max_bytes={limits.max_bytes}; raise max_bytes"
        )
    _check_archive(path, limits)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            x_key = next((key for key in _FEATURE_KEYS if key in keys), None)
            if x_key is None or "y" not in keys:
                raise DatasetError(
                    f"{path}: needs arrays 'x' (or 'X') and 'y', found {keys}; save it with "
                    "numpy.savez(path, x=features, y=targets)"
                )
            x = np.asarray(archive[x_key])
            y = np.asarray(archive["y"])
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: could not read the arrays ({exc}); save it again") from exc
    if x.ndim < 2 or y.ndim not in (1, 2):
        raise DatasetError(
            f"{path}: x has shape {x.shape} and y {y.shape}; x needs (rows, features...) and "
            "y (rows,) or (rows, targets)"
        )
    if x.shape[0] != y.shape[0]:
        raise DatasetError(
            f"{path}: x has {x.shape[0]} rows but y has {y.shape[0]}; they must match"
        )
    image_shape: tuple[int, int, int] | None = None
    if x.ndim in (3, 4):
        c, h, w = x.shape[1:] if x.ndim == 4 else (1, *x.shape[1:])
        image_shape = (int(c), int(h), int(w))
    x = x.reshape(x.shape[0], -1)
    check_shape(path, x.shape[0], x.shape[1] + (y.shape[1] if y.ndim == 2 else 1), limits)
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: x has dtype {x.dtype}; features must be numeric")
    x = x.astype(np.float64)
    check_finite(path, x, range(x.shape[1]), None, line_of=None)
    y = _select_targets(path, y, target_columns)
    if y.dtype.kind in "US":
        if y.ndim == 2 and y.shape[1] != 1:
            raise DatasetError(f"{path}: y holds text in {y.shape[1]} columns; labels need one")
        return RawData(x, y.reshape(-1).astype(str), True, image_shape=image_shape)
    if y.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: y has dtype {y.dtype}; targets must be numbers or labels")
    y = y.astype(np.float64).reshape(y.shape[0], -1)
    check_finite(path, y, range(y.shape[1]), None, line_of=None)
    return RawData(x, y, False, image_shape=image_shape)
