"""Shared by the paper experiments: presets, the paper's datasets and their stand-ins, progress.

The paper names four datasets for §6.1/§6.2. Two are bundled (``oes97`` in full, the gas
sensor drift data in part); two need a user-supplied file (``scm1d``, ``gina_prior2``) and
otherwise run on a bundled stand-in. Every output row, title and summary carries the
``label`` built here, which says "stand-in for …" or "partial" where that is the case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.errors import ConfigError

__all__ = [
    "PAPER_DATASETS",
    "PRESETS",
    "PaperDataset",
    "Preset",
    "check_datasets",
    "check_preset",
    "load_paper_dataset",
    "progress",
    "require",
    "subsample",
]

Preset = Literal["quick", "reduced", "full"]
PRESETS: tuple[Preset, ...] = ("quick", "reduced", "full")


@dataclass(frozen=True)
class PaperDataset:
    """How one of the paper's datasets is obtained here.

    Attributes:
        paper_name: The name the paper uses (``scm1d``, ``oes97``, ``gina_prior2``, ``gsadd``).
        bundled: Registry name of the bundled dataset used when no user file is given.
        stand_in: True when ``bundled`` is a different dataset than the paper's.
        note: What differs from the paper's data (shown in labels).
        task: ``"regression"`` or ``"classification"``.
    """

    paper_name: str
    bundled: str
    stand_in: bool
    note: str
    task: Literal["regression", "classification"]


PAPER_DATASETS: dict[str, PaperDataset] = {
    "scm1d": PaperDataset(
        "scm1d", "scm20d", True, "stand-in for scm1d: its Mulan sibling, 61 inputs",
        "regression",
    ),
    "oes97": PaperDataset("oes97", "oes97", False, "the paper's data, complete", "regression"),
    "gina_prior2": PaperDataset(
        "gina_prior2", "mnist_5k", True,
        "stand-in for gina_prior2: 5,000 MNIST digits, the same 784 pixels", "classification",
    ),
    "gsadd": PaperDataset(
        "gsadd", "gas_drift_partial", True,
        "partial stand-in for gsadd: 8 of the 10 gas-drift batches", "classification",
    ),
}


def require(config: object, field: str, ok: bool, allowed: str) -> None:
    """Raise a ``ConfigError`` naming ``config.field``, its value and what is allowed.

    Raises:
        ConfigError: when ``ok`` is False.
    """
    if not ok:
        value = getattr(config, field)
        raise ConfigError(
            f"{type(config).__name__}.{field}={value!r} is invalid; it must be {allowed}"
        )


def check_datasets(config: object, names: tuple[str, ...], task: str | None = None) -> None:
    """Check that every name is a paper dataset (of ``task``, when given).

    Raises:
        ConfigError: naming the field, the bad name and the allowed names.
    """
    allowed = [k for k, v in PAPER_DATASETS.items() if task is None or v.task == task]
    require(config, "datasets", bool(names) and all(n in allowed for n in names),
            f"a non-empty list of {allowed}")


def check_preset(preset: str) -> Preset:
    """Return ``preset`` if it is one of :data:`PRESETS`.

    Raises:
        ConfigError: naming the value and the allowed presets.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is unknown; use one of {PRESETS}")
    return preset


def load_paper_dataset(
    paper_name: str,
    *,
    user_files: Mapping[str, str | Path] | None = None,
    seed: int = 0,
    max_rows: int | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Load a paper dataset from a user file if one is given, else its bundled version.

    Args:
        paper_name: A key of :data:`PAPER_DATASETS`.
        user_files: Paper name → path of a user-supplied copy (e.g. ``scm1d.arff``).
        seed: Split seed.
        max_rows: Subsample to about this many rows (quick runs); the label says so.

    Returns:
        The dataset and a JSON-serialisable description with ``paper_name``, ``name``,
        ``label`` (says "stand-in"/"partial" where it applies), ``short_label`` (for plot
        titles, still saying "stand-in"), ``stand_in``, ``note``,
        ``source``, ``n_train`` and ``n_features``.

    Raises:
        ConfigError: unknown paper name.
        DatasetError: a user file that cannot be read (from ``load_dataset``).
    """
    if paper_name not in PAPER_DATASETS:
        raise ConfigError(
            f"paper dataset {paper_name!r} is unknown; use one of {sorted(PAPER_DATASETS)}"
        )
    entry = PAPER_DATASETS[paper_name]
    path = (user_files or {}).get(paper_name)
    if path is not None:
        data = load_dataset(paper_name, path=path, seed=seed)
        stand_in, note = False, f"user-supplied file {Path(path).name}"
        label = f"{paper_name} (user file)"
    else:
        data = load_dataset(entry.bundled, seed=seed)
        stand_in, note = entry.stand_in, entry.note
        label = f"{entry.bundled} ({note})" if entry.stand_in else entry.bundled
    if max_rows is not None and data.n_rows > max_rows:
        data = subsample(data, max_rows)
        label += f" [subsampled to {max_rows} rows]"
    short = f"{data.name} (user file)" if path is not None else (
        f"{entry.bundled} ({'partial ' if 'partial' in note else ''}stand-in for {paper_name})"
        if stand_in else entry.bundled)
    info = {
        "paper_name": paper_name,
        "name": data.name,
        "label": label,
        "short_label": short,
        "stand_in": stand_in,
        "note": note,
        "source": data.source,
        "n_train": int(data.x_train.shape[0]),
        "n_features": data.n_features,
        "n_outputs": data.n_outputs,
        "task": data.task,
    }
    return data, info


def subsample(data: Dataset, max_rows: int) -> Dataset:
    """Keep about ``max_rows`` rows, taking the same fraction of every (shuffled) split.

    Raises:
        ConfigError: ``max_rows`` below 10.
    """
    if max_rows < 10:
        raise ConfigError(f"max_rows={max_rows} is too small; use at least 10")
    frac = max_rows / data.n_rows
    cut: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        n = max(2, round(getattr(data, f"x_{split}").shape[0] * frac))
        cut[f"x_{split}"] = getattr(data, f"x_{split}")[:n]
        cut[f"y_{split}"] = getattr(data, f"y_{split}")[:n]
    return replace(data, **cut)


def progress(total: int, desc: str, *, enabled: bool) -> tqdm[Any]:
    """A tqdm bar on stderr (disabled in quick mode and tests)."""
    return tqdm(total=total, desc=desc, disable=not enabled, dynamic_ncols=True, leave=True)
