"""Reproductions of the ShrinkNets paper's experiments (§6.1–§6.4) with this project's code.

Each experiment has a frozen config with ``preset("quick" | "reduced" | "full")`` and a
``run_*(out_dir, config)`` that writes offline HTML figures, CSV tables and
``summary.json`` and returns the summary. ``shrinknets paper <experiment> --out DIR``
runs them from the command line (:func:`add_paper_commands`); ``paper all --preset reduced
--publish docs/figures`` regenerates everything ``docs/results.md`` shows.
"""

from .cli import EXPERIMENTS, add_paper_commands, main, run_experiment
from .dynamics import DynamicsConfig, run_dynamics
from .gamma import GammaConfig, gamma_values, run_gamma
from .hyperopt import HyperoptConfig, run_hyperopt
from .tradeoff import TradeoffConfig, run_tradeoff

__all__ = [
    "EXPERIMENTS",
    "DynamicsConfig",
    "GammaConfig",
    "HyperoptConfig",
    "TradeoffConfig",
    "add_paper_commands",
    "gamma_values",
    "main",
    "run_dynamics",
    "run_experiment",
    "run_gamma",
    "run_hyperopt",
    "run_tradeoff",
]
