"""Command line for studies: ``shrinknets study run`` and ``shrinknets study compare``.

The service's ``shrinknets`` entry point mounts these with :func:`add_study_commands`;
``python -m studies.cli study ...`` runs them without the service.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna

from shrinknets_core.errors import ConfigError, ShrinkNetsError
from studies._report import write_comparison
from studies.compare import USEFUL_FACTOR, compare_studies
from studies.execute import run_study
from studies.spec import load_spec

__all__ = ["DEFAULT_STORAGE", "add_study_commands", "main"]

DEFAULT_STORAGE = "sqlite:///shrinknets.db"


def _run(args: argparse.Namespace) -> int:
    spec = load_spec(Path(args.spec))
    models = None
    if args.models:
        from studies.models import AtomicFileSystemArtifactStore, ModelKeeper

        models = ModelKeeper(AtomicFileSystemArtifactStore(Path(args.models)), keep=args.keep)
    study = run_study(
        spec,
        args.storage,
        study_name=args.study_name,
        progress=not args.quiet,
        device=args.device,
        models=models,
    )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    summary: dict[str, object] = {
        "study": study.study_name,
        "storage": args.storage,
        "kind": spec.search.kind,
        "complete_trials": len(complete),
    }
    if complete:
        best = min(complete, key=lambda t: t.values[0])
        summary["best"] = {
            "trial": best.number,
            "val_loss": best.values[0],
            "final_widths": best.user_attrs.get("final_widths"),
            "params": best.user_attrs.get("params"),
            "lam": best.user_attrs.get("lam"),
        }
    print(json.dumps(summary))
    return 0


def _load(name: str, storage: str) -> optuna.Study:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError as e:
        raise ConfigError(
            f"study {name!r} is not in storage {storage}; list the names with "
            f"`optuna study-names --storage {storage}`"
        ) from e


def _compare(args: argparse.Namespace) -> int:
    studies = [_load(name, args.storage) for name in args.studies]
    comparison = compare_studies(*studies, useful_factor=args.useful_factor)
    paths = write_comparison(comparison, args.out)
    print(
        json.dumps(
            {
                "reference": comparison.reference_text(),
                "arms": {
                    a.arm: {
                        "hypervolume": a.hypervolume,
                        "compute_share": a.compute_share,
                        "reached": a.reached,
                        "total_cost_macs": a.total_cost_macs,
                    }
                    for a in comparison.arms
                },
                "files": {k: str(v) for k, v in paths.items()},
            }
        )
    )
    return 0


def add_study_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``study run`` and ``study compare`` to a parser's subcommands.

    Each leaf parser sets ``func`` (``args.func(args) -> int``, the exit code).
    """
    study = subparsers.add_parser("study", help="run and compare Optuna studies")
    commands = study.add_subparsers(dest="study_command", required=True)

    run = commands.add_parser("run", help="run a study from a JSON spec until its budget is spent")
    run.add_argument("spec", help="path of the study spec (JSON)")
    run.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL ({DEFAULT_STORAGE})"
    )
    run.add_argument("--study-name", default=None, help="study name (default: the spec's name)")
    run.add_argument("--device", default=None, help="override training.device, e.g. cuda:0")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--models", metavar="DIR", default=None,
                     help="keep each complete trial's network as Optuna artifacts in DIR")
    run.add_argument("--keep", choices=["all", "pareto"], default="all",
                     help="with --models: every network, or the (loss, size) front's")
    run.set_defaults(func=_run)

    compare = commands.add_parser(
        "compare", help="compare studies (arms) run on one spec; writes JSON, CSV and HTML"
    )
    compare.add_argument(
        "studies", metavar="NAME", nargs="+",
        help="the arms' study names (the width-search study, if any, is the baseline)",
    )
    compare.add_argument(
        "--useful-factor", type=float, default=USEFUL_FACTOR,
        help=f"reference loss = this × the baseline's best loss ({USEFUL_FACTOR:g})",
    )
    compare.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL ({DEFAULT_STORAGE})"
    )
    compare.add_argument("--out", default="comparison", help="output folder (created)")
    compare.set_defaults(func=_compare)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m studies.cli study run|compare ...``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m studies.cli")
    add_study_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ShrinkNetsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
