"""Paper datasets that cannot be shipped: ``scm1d`` and ``gina_prior2`` from a user's file.

The file is ``path=`` when given, else ``$SHRINKNETS_DATA_DIR/<name>.<ext>`` for the first
supported extension found. A missing file raises `DatasetError` saying where it was looked
for, how to supply it, and which bundled stand-in exists.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from shrinknets_core.datasets._files import SUPPORTED_SUFFIXES
from shrinknets_core.datasets._io import TargetColumns
from shrinknets_core.datasets._types import DatasetInfo
from shrinknets_core.errors import DatasetError

ENV_DATA_DIR = "SHRINKNETS_DATA_DIR"


@dataclass(frozen=True)
class UserDataset:
    """A paper dataset loaded from a user-supplied file, with the shape it must have."""

    info: DatasetInfo
    stand_in: str
    target_columns: TargetColumns
    how_to_get: str
    blob_id: str | None = None


USER_DATASETS: dict[str, UserDataset] = {
    "scm1d": UserDataset(
        DatasetInfo(
            "scm1d", "regression", 9803, 280, 16, None,
            "user-supplied: Mulan scm1d.arff (multi-target regression, TAC SCM) or OpenML 41485",
            "cite Spyromitros-Xioufis, Tsoumakas, Groves, Vlahavas, Machine Learning "
            "104(1):55-98, 2016",
            "scm1d (user-supplied file)", None, True,
        ),
        stand_in="scm20d",
        target_columns=16,
        how_to_get="the Mulan multi-target file scm1d.arff (GitHub tsoumakas/mulan, "
        "data/multi-target/) or OpenML dataset 41485 as ARFF; the last 16 columns are targets",
        blob_id="949342bac49be5f52c4a3b03068ff7e13b9b8e82",
    ),
    "gina_prior2": UserDataset(
        DatasetInfo(
            "gina_prior2", "classification", 3468, 784, 10, None,
            "user-supplied: OpenML dataset 1041 (gina_prior2, built from MNIST digits)",
            "public on OpenML; MNIST-derived (cite Guyon et al., the IJCNN 2007 agnostic "
            "learning vs. prior knowledge challenge)",
            "gina_prior2 (user-supplied file)", (1, 28, 28), True,
        ),
        stand_in="mnist_5k",
        target_columns=None,
        how_to_get="OpenML dataset 1041 saved as ARFF (or CSV/NPZ) with the class in the last "
        "column",
    ),
}


def candidates(name: str) -> list[Path]:
    """Where ``name`` is looked for when no path is given (empty if the env var is unset)."""
    data_dir = os.environ.get(ENV_DATA_DIR)
    if not data_dir:
        return []
    return [Path(data_dir).expanduser() / f"{name}{suffix}" for suffix in SUPPORTED_SUFFIXES]


def locate(name: str, path: str | os.PathLike[str] | None) -> Path:
    """The user's file for dataset ``name``.

    Raises:
        DatasetError: the file is missing; says where it was looked for, how to supply it
            and which bundled stand-in to use meanwhile.
    """
    spec = USER_DATASETS[name]
    looked = [Path(path).expanduser()] if path is not None else candidates(name)
    for candidate in looked:
        if candidate.is_file():
            return candidate
    if path is not None:
        where = f"at {looked[0]} (the path given)"
    elif looked:
        tried = ", ".join(p.name for p in looked)
        where = f"in {ENV_DATA_DIR}={os.environ[ENV_DATA_DIR]} (tried {tried})"
    else:
        where = f"anywhere: no path= was given and {ENV_DATA_DIR} is not set"
    raise DatasetError(
        f"dataset {name!r}: the user-supplied file is missing: not found {where}. It is not "
        f"shipped with shrinknets. To use it, get {spec.how_to_get}. Then call "
        f"load_dataset({name!r}, path='/path/to/{name}.arff') or put it at "
        f"${ENV_DATA_DIR}/{name}.arff. Meanwhile the bundled stand-in {spec.stand_in!r} exists: "
        f"load_dataset({spec.stand_in!r})."
    )


def git_blob_id(data: bytes) -> str:
    """``git hash-object`` of ``data``: sha1 over ``b"blob <size>\\0" + data``."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def check_shape(name: str, path: Path, n_features: int, n_outputs: int) -> None:
    """Reject a user file whose shape differs from the paper dataset's.

    Raises:
        DatasetError: wrong feature or output count.
    """
    info = USER_DATASETS[name].info
    if (n_features, n_outputs) != (info.n_features, info.n_outputs):
        raise DatasetError(
            f"{path}: has {n_features} features and {n_outputs} "
            f"{'classes' if info.task == 'classification' else 'targets'}, but {name} has "
            f"{info.n_features} and {info.n_outputs}; supply the right file (or load it as "
            "a plain user file by its path)"
        )
