"""The spec's dataset options as the objectives apply them."""

from __future__ import annotations

from studies.objectives import load_study_data
from studies.spec import StudySpec


def _spec(**dataset: object) -> StudySpec:
    return StudySpec.model_validate(
        {
            "name": "data",
            "dataset": {"name": "digits", **dataset},
            "architecture": {"kind": "mlp", "depth": 2, "max_width": 8},
            "training": {"epochs": 1},
            "search": {"kind": "lambda", "n_trials": 1},
        }
    )


def test_max_rows_subsamples_every_split_in_proportion() -> None:
    full = load_study_data(_spec())
    cut = load_study_data(_spec(max_rows=300))
    assert cut.n_rows == 300
    assert abs(len(cut.x_train) / 300 - len(full.x_train) / full.n_rows) < 0.01
    assert len(cut.x_train) == len(cut.y_train) and len(cut.x_val) == len(cut.y_val)
    assert (cut.x_train == full.x_train[: len(cut.x_train)]).all()


def test_max_rows_above_the_dataset_size_keeps_everything() -> None:
    assert load_study_data(_spec(max_rows=100_000)).n_rows == load_study_data(_spec()).n_rows
