"""Datasets: a registry of named datasets, user files, deterministic splits.

Registered names (see `list_datasets`): ``digits``, ``synthetic_classification``,
``synthetic_regression``, ``oes97``, ``scm20d`` (stand-in for ``scm1d``), ``mnist_5k``
(stand-in for ``gina_prior2``), ``gas_drift_partial`` (8 of 10 batches of the paper's
``gsadd``), and ``scm1d`` / ``gina_prior2`` when the user supplies the file. User files:
``.csv``, ``.csv.gz``, ``.npz``, ``.arff`` (``.arff.gz``). Nothing is downloaded.

Example:
    >>> from shrinknets_core.datasets import load_dataset
    >>> data = load_dataset("oes97", seed=0)
    >>> data.x_train.shape[1], data.n_outputs
    (263, 16)
"""

from shrinknets_core.datasets._files import SUPPORTED_SUFFIXES
from shrinknets_core.datasets._io import TargetColumns
from shrinknets_core.datasets._registry import dataset_names, list_datasets, load_dataset
from shrinknets_core.datasets._split import split_indices
from shrinknets_core.datasets._types import Dataset, DatasetInfo, Task
from shrinknets_core.datasets._user import ENV_DATA_DIR

__all__ = [
    "ENV_DATA_DIR",
    "SUPPORTED_SUFFIXES",
    "Dataset",
    "DatasetInfo",
    "TargetColumns",
    "Task",
    "dataset_names",
    "list_datasets",
    "load_dataset",
    "split_indices",
]
