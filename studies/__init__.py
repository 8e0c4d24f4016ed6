"""Optuna studies of ShrinkNets: λ search versus width search, compared on compute.

Knows nothing of HTTP; the service calls these functions. See ``docs/architecture.md``.
"""

from studies.compare import Comparison, compare_studies
from studies.execute import (
    TrialStopped,
    ask_trial,
    create_study,
    open_study,
    run_lambda_path,
    run_study,
    run_trial,
    spec_of,
)
from studies.pareto import hypervolume, pareto_front
from studies.plots import (
    PLOTS,
    compute_figure,
    lambda_figure,
    pareto_figure,
    size_space_figure,
    widths_figure,
)
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
]
