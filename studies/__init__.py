"""Optuna studies of ShrinkNets: λ search versus width search, compared on compute.

Knows nothing of HTTP; the service calls these functions. See ``docs/architecture.md``.

Public names are imported on first use, so ``import studies.spec`` (the API's
request models) loads neither torch nor the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shrinknets_core._lazy import lazy_attributes

if TYPE_CHECKING:
    from studies._report import write_comparison
    from studies._trial import TrialStopped
    from studies.compare import Comparison, compare_studies
    from studies.execute import run_lambda_path, run_study, run_trial
    from studies.pareto import hypervolume, pareto_front
    from studies.plots import (
        PLOTS,
        compute_figure,
        lambda_figure,
        pareto_figure,
        size_space_figure,
        widths_figure,
    )
    from studies.sampling import ask_trial, create_study, open_study, spec_of
    from studies.spec import StudySpec, load_spec

__all__ = [
    "PLOTS",
    "Comparison",
    "StudySpec",
    "TrialStopped",
    "ask_trial",
    "compare_studies",
    "compute_figure",
    "create_study",
    "hypervolume",
    "lambda_figure",
    "load_spec",
    "open_study",
    "pareto_figure",
    "pareto_front",
    "run_lambda_path",
    "run_study",
    "run_trial",
    "size_space_figure",
    "spec_of",
    "widths_figure",
    "write_comparison",
]

#: Public name → the module that defines it, imported on first use (PEP 562).
_EXPORTS: dict[str, str] = {
    "Comparison": "studies.compare",
    "PLOTS": "studies.plots",
    "StudySpec": "studies.spec",
    "TrialStopped": "studies._trial",
    "ask_trial": "studies.sampling",
    "compare_studies": "studies.compare",
    "compute_figure": "studies.plots",
    "create_study": "studies.sampling",
    "hypervolume": "studies.pareto",
    "lambda_figure": "studies.plots",
    "load_spec": "studies.spec",
    "open_study": "studies.sampling",
    "pareto_figure": "studies.plots",
    "pareto_front": "studies.pareto",
    "run_lambda_path": "studies.execute",
    "run_study": "studies.execute",
    "run_trial": "studies.execute",
    "size_space_figure": "studies.plots",
    "spec_of": "studies.sampling",
    "widths_figure": "studies.plots",
    "write_comparison": "studies._report",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, __all__)
