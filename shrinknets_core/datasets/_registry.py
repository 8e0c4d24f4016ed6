"""The dataset registry: `list_datasets` (static) and `load_dataset` (names or file paths)."""

from __future__ import annotations

import os
from pathlib import Path

from shrinknets_core.datasets import _synthetic
from shrinknets_core.datasets._bundled import BUNDLED, load_arrays
from shrinknets_core.datasets._files import (
    SUPPORTED_SUFFIXES,
    encode_targets,
    file_format,
    read_file,
)
from shrinknets_core.datasets._io import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, Limits, TargetColumns
from shrinknets_core.datasets._split import Meta, make_dataset
from shrinknets_core.datasets._types import Dataset, DatasetInfo, Task
from shrinknets_core.datasets._user import USER_DATASETS, check_shape, git_blob_id, locate
from shrinknets_core.errors import ConfigError, DatasetError


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, from static metadata (no data file is read).

    Returns:
        ``digits``, the synthetic generators (at their default sizes), the shipped paper
        datasets and stand-ins, then the paper datasets that need a user-supplied file
        (``requires_file=True``).
    """
    bundled = [entry.info for entry in BUNDLED.values()]
    return (
        bundled[:1]  # digits first: the smallest, quickest example
        + list(_synthetic.INFOS.values())
        + bundled[1:]
        + [entry.info for entry in USER_DATASETS.values()]
    )


def dataset_names() -> list[str]:
    """Registry names accepted by `load_dataset`."""
    return [info.name for info in list_datasets()]


def _check_rows(source: str, n_rows: int, max_rows: int) -> None:
    if n_rows > max_rows:
        raise DatasetError(
            f"{source}: has {n_rows} rows, over the limit max_rows={max_rows}; "
            "use a smaller dataset or raise max_rows"
        )


def _check_positive(field: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise ConfigError(f"{field}={value!r} must be a positive integer or None")


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    target_columns: TargetColumns = None,
    task: Task | None = None,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    max_rows: int | None = None,
    path: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
    **options: float,
) -> Dataset:
    """Load a registered dataset or a user file, split it and standardise it.

    Args:
        name_or_path: A registry name (see `list_datasets`) or the path of a ``.csv``,
            ``.csv.gz``, ``.npz``, ``.arff`` or ``.arff.gz`` file.
        target_columns: User files (and scm1d / gina_prior2). None = the last column (for
            scm1d: the last 16); an int N = the last N columns (Mulan multi-target files);
            a column name; or a list of names/indices. In an ``.npz`` file it selects
            columns of ``y``.
        task: ``"classification"`` / ``"regression"``; None infers it for user files
            (text or nominal labels, or one integer column with few values → classification).
        seed: Split seed; the same seed gives the same rows in each split.
        val_fraction, test_fraction: Split sizes, each 0..0.9 with sum <= 0.9.
        max_rows: Reject data with more rows (default 5,000,000).
        path: The file holding dataset ``name_or_path``. For ``scm1d`` / ``gina_prior2``
            (default ``$SHRINKNETS_DATA_DIR/<name>.arff`` and other supported extensions)
            the file is checked against the paper's shape and layout; for any other name
            it is loaded as a user file (``target_columns``/``task`` apply) and named
            ``name_or_path`` — e.g. ``load_dataset("gsadd", path="gsadd.csv")``.
        max_bytes: Reject user files larger than this, decompressed (default 1 GiB).
        **options: Generator options of ``synthetic_classification`` (``n_samples``,
            ``n_features``, ``n_informative``, ``n_classes``, ``class_sep``, ``data_seed``)
            and ``synthetic_regression`` (``n_samples``, ``n_features``, ``n_informative``,
            ``n_targets``, ``noise``, ``data_seed``).

    Returns:
        A `Dataset`: float32 features standardised with training-split statistics;
        int64 labels 0..K-1 (classification) or float32 ``(n, k)`` targets standardised
        with training-split statistics (regression).

    Raises:
        DatasetError: unknown name, missing or malformed file, checksum mismatch.
        ConfigError: bad arguments (fractions, options, target_columns, task).
    """
    _check_positive("max_rows", max_rows)
    _check_positive("max_bytes", max_bytes)
    limits = Limits(
        max_bytes=max_bytes or DEFAULT_MAX_BYTES, max_rows=max_rows or DEFAULT_MAX_ROWS
    )
    name = os.fspath(name_or_path)
    if options and name not in _synthetic.OPTIONS:
        raise ConfigError(
            f"options {sorted(options)} are only for the synthetic datasets, not {name!r}"
        )
    if path is not None and name not in USER_DATASETS:
        if options:
            raise ConfigError(f"generator options do not apply to the file {os.fspath(path)}")
        return _load_file(
            Path(path).expanduser(), target_columns=target_columns, task=task, limits=limits,
            seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, name=name,
        )
    if name in BUNDLED or name in _synthetic.OPTIONS:
        if target_columns is not None:
            raise ConfigError(
                f"target_columns applies to user files only; {name!r} has fixed targets"
            )
        return _load_registered(
            name, options, task=task, limits=limits, seed=seed, val_fraction=val_fraction,
            test_fraction=test_fraction,
        )
    if name in USER_DATASETS:
        return _load_user_dataset(
            name, path, target_columns=target_columns, task=task, limits=limits, seed=seed,
            val_fraction=val_fraction, test_fraction=test_fraction,
        )
    file = Path(name).expanduser()
    if file_format(file) is None and not file.exists():
        raise DatasetError(
            f"unknown dataset {name!r}: not a registered name ({', '.join(dataset_names())}) "
            f"and not a data file path ({', '.join(SUPPORTED_SUFFIXES)})"
        )
    return _load_file(
        file, target_columns=target_columns, task=task, limits=limits, seed=seed,
        val_fraction=val_fraction, test_fraction=test_fraction,
    )


def _load_registered(
    name: str,
    options: dict[str, float],
    *,
    task: Task | None,
    limits: Limits,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> Dataset:
    """A bundled dataset (cached arrays) or a synthetic one (generated from ``options``)."""
    info = BUNDLED[name].info if name in BUNDLED else _synthetic.INFOS[name]
    if task is not None and task != info.task:
        raise ConfigError(f"task={task!r} does not fit {name!r}, a {info.task} dataset")
    if name in BUNDLED:
        x, y, class_names = load_arrays(name)
        n_outputs, scaling = info.n_outputs, BUNDLED[name].scaling
    else:
        x, y, n_outputs = _synthetic.generate(name, options)
        class_names = (
            tuple(str(i) for i in range(n_outputs)) if info.task == "classification" else None
        )
        scaling = "feature"
    _check_rows(name, x.shape[0], limits.max_rows)
    meta = Meta(name, info.label, info.image_shape, info.stand_in_for, info.source)
    return make_dataset(
        x, y, task=info.task, n_outputs=n_outputs, meta=meta, class_names=class_names,
        scaling=scaling, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
    )


def _load_file(
    file: Path,
    *,
    target_columns: TargetColumns,
    task: Task | None,
    limits: Limits,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    meta: Meta | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a user file and build its `Dataset` (named ``name`` or after the file)."""
    raw = read_file(file, target_columns=target_columns, limits=limits)
    task, y, class_names = encode_targets(str(file), raw, task)
    n_outputs = len(class_names) if class_names is not None else int(y.shape[1])
    if meta is None:
        stem = file.name[: len(file.name) - len(file_format(file) or "")]
        label = f"{name} (from {file.name})" if name else f"{stem} (user file)"
        meta = Meta(name or stem, label, raw.image_shape, None, f"user file {file}")
    return make_dataset(
        raw.x, y, task=task, n_outputs=n_outputs, meta=meta, class_names=class_names,
        seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
        scaling="global" if meta.image_shape else "feature",
        feature_names=raw.feature_names, target_names=raw.target_names,
    )


def _load_user_dataset(
    name: str,
    path: str | os.PathLike[str] | None,
    *,
    target_columns: TargetColumns,
    task: Task | None,
    limits: Limits,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> Dataset:
    """Load ``scm1d`` / ``gina_prior2`` from the user's file and check its shape.

    ``target_columns`` defaults to the paper layout (scm1d: the last 16 columns,
    gina_prior2: the last column); pass it for a copy whose columns are ordered differently.
    """
    spec = USER_DATASETS[name]
    if task is not None and task != spec.info.task:
        raise ConfigError(f"task={task!r} does not fit {name!r}, a {spec.info.task} dataset")
    file = locate(name, path)
    source = f"user file {file}"
    if spec.blob_id is not None and file_format(file) == ".arff":
        matches = git_blob_id(file.read_bytes()) == spec.blob_id
        source += (
            " (identical to the Mulan file)"
            if matches
            else " (not byte-identical to the Mulan file; shape checked)"
        )
    meta = Meta(name, spec.info.label.replace("user-supplied file", f"from {file.name}"),
                spec.info.image_shape, None, source)
    dataset = _load_file(
        file,
        target_columns=spec.target_columns if target_columns is None else target_columns,
        task=spec.info.task,
        limits=limits,
        seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, meta=meta,
    )
    check_shape(name, file, dataset.n_features, dataset.n_outputs)
    return dataset
