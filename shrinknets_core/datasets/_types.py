"""The two records the dataset registry hands out: `DatasetInfo` (static) and `Dataset` (loaded)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from torch import Tensor

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a registered dataset; building it never reads a data file.

    Attributes:
        name: Registry name, the first argument of `load_dataset`.
        task: ``"classification"`` or ``"regression"``.
        n_rows: Number of rows (for the synthetic generators: the default size).
        n_features: Number of input features.
        n_outputs: Number of classes (classification) or targets (regression).
        stand_in_for: The paper dataset this one replaces, or None.
        source: Where the data comes from.
        licence: Licence or terms of the data.
        label: Display name; says "stand-in for …" where the dataset is one.
        image_shape: ``(C, H, W)`` when the features are image pixels, else None.
        requires_file: True for names that load a user-supplied file (``scm1d``,
            ``gina_prior2``); such a dataset is not shipped with the package.
    """

    name: str
    task: Task
    n_rows: int
    n_features: int
    n_outputs: int
    stand_in_for: str | None
    source: str
    licence: str
    label: str
    image_shape: tuple[int, int, int] | None = None
    requires_file: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``image_shape`` becomes a list or None)."""
        data = asdict(self)
        data["image_shape"] = list(self.image_shape) if self.image_shape else None
        return data


@dataclass
class Dataset:
    """A loaded dataset, split and standardised, ready for the trainer.

    Features are float32 tensors of shape ``(n, n_features)``, standardised with the
    mean and standard deviation of the training split only. Classification targets are
    int64 of shape ``(n,)`` with values ``0..n_outputs-1``; regression targets are float32
    of shape ``(n, n_outputs)``, also standardised with training statistics (so losses are
    comparable across targets; multiply by ``y_std`` and add ``y_mean`` to get original units).

    Attributes:
        name: Registry name or the user file's stem.
        label: Display name; says "stand-in for …" where the dataset is one.
        task: ``"classification"`` or ``"regression"``.
        x_train, y_train, x_val, y_val, x_test, y_test: The three splits.
        n_features: Number of input features.
        n_outputs: Number of classes or regression targets.
        image_shape: ``(C, H, W)`` for image data, else None.
        stand_in_for: The paper dataset this one replaces, or None.
        source: Where the data came from (package file or user path).
        class_names: Original class labels in code order (classification), else None.
        x_mean, x_std: Training-split feature statistics used for standardisation
            (float64: ``((raw - x_mean) / x_std).float()`` gives the stored features).
        y_mean, y_std: Training-split target statistics (regression, float64), else None.
        feature_names, target_names: Column names where the file has them, else None.
        test_rows: Rows of the source data (0-based, data rows only) that form the test
            split, in split order, so the raw test rows can be found again.
    """

    name: str
    label: str
    task: Task
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    n_features: int
    n_outputs: int
    image_shape: tuple[int, int, int] | None
    stand_in_for: str | None
    source: str
    class_names: tuple[str, ...] | None = None
    x_mean: Tensor | None = None
    x_std: Tensor | None = None
    y_mean: Tensor | None = None
    y_std: Tensor | None = None
    feature_names: tuple[str, ...] | None = None
    target_names: tuple[str, ...] | None = None
    test_rows: Tensor | None = None

    @property
    def n_rows(self) -> int:
        """Total number of rows over the three splits."""
        return int(self.x_train.shape[0] + self.x_val.shape[0] + self.x_test.shape[0])

    def summary(self) -> dict[str, Any]:
        """Small JSON-serialisable description (no tensors) for logs and study attributes."""
        return {
            "name": self.name,
            "label": self.label,
            "task": self.task,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "n_train": int(self.x_train.shape[0]),
            "n_val": int(self.x_val.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "stand_in_for": self.stand_in_for,
            "source": self.source,
        }
