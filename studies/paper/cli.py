"""``shrinknets paper <experiment> --out DIR [--quick]``: reproduce the paper's experiments.

The service CLI mounts these commands with :func:`add_paper_commands`; :func:`main` runs
them standalone (``python -m studies.paper``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from shrinknets_core.errors import ConfigError, ShrinkNetsError

from ._common import PRESETS
from ._report import publish
from .dynamics import DynamicsConfig, run_dynamics
from .gamma import GammaConfig, run_gamma
from .hyperopt import HyperoptConfig, run_hyperopt
from .tradeoff import TradeoffConfig, run_tradeoff

__all__ = ["EXPERIMENTS", "add_paper_commands", "main", "run_experiment"]

Runner = Callable[..., dict[str, Any]]

EXPERIMENTS: dict[str, tuple[type[Any], Runner, str]] = {
    "tradeoff": (TradeoffConfig, run_tradeoff,
                 "§6.1 Fig. 1: loss/sparsity, ShrinkNets vs group sparsity"),
    "gamma": (GammaConfig, run_gamma, "§6.2 Fig. 2: removal aggressiveness γ vs loss and cost"),
    "dynamics": (DynamicsConfig, run_dynamics, "§6.3: MLP/CNN widths, loss, accuracy per epoch"),
    "hyperopt": (HyperoptConfig, run_hyperopt, "§6.4: λ search vs width search, size space"),
}
"""Experiment name → (config class, runner, one-line description)."""


def _parse_value(config_cls: type[Any], key: str, raw: str) -> Any:
    """Parse ``--set key=value`` as JSON (lists become tuples), else keep the string."""
    names = {f.name for f in fields(config_cls)}
    if key not in names:
        raise ConfigError(
            f"--set {key}=...: {config_cls.__name__} has no field {key!r}; "
            f"use one of {sorted(names)}"
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def run_experiment(
    name: str,
    out: Path | str,
    *,
    preset: str = "full",
    overrides: dict[str, Any] | None = None,
    progress_bar: bool = True,
    png: bool | None = None,
) -> dict[str, Any]:
    """Run one experiment with a preset and field overrides; returns its summary.

    Raises:
        ConfigError: unknown experiment, preset or override field.
    """
    if name not in EXPERIMENTS:
        raise ConfigError(f"experiment {name!r} is unknown; use one of {sorted(EXPERIMENTS)}")
    config_cls, runner, _ = EXPERIMENTS[name]
    config = config_cls.preset(preset)
    if overrides:
        config = replace(config, **overrides)
    summary = runner(out, config, progress_bar=progress_bar, png=png)
    # record how the config was chosen next to it, so summary.json says how to rerun it
    summary["preset"] = preset
    summary["overrides"] = {k: list(v) if isinstance(v, tuple) else v
                            for k, v in (overrides or {}).items()}
    path = Path(out) / "summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def add_paper_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``paper <experiment> --out DIR [--quick]`` to an argparse subparsers object.

    Returns:
        The ``paper`` parser (its handler is stored as ``func``).
    """
    paper = subparsers.add_parser(
        "paper", help="reproduce the paper's experiments (HTML, CSV, JSON per experiment)",
        description="Reproduce the ShrinkNets paper's experiments with this code.",
    )
    paper.add_argument("experiment", choices=[*EXPERIMENTS, "all"],
                       help="; ".join(f"{k}: {v[2]}" for k, v in EXPERIMENTS.items()))
    paper.add_argument("--out", required=True, type=Path,
                       help="output directory ('all' writes one subdirectory per experiment)")
    paper.add_argument("--quick", action="store_true", help="tiny settings (= --preset quick)")
    paper.add_argument("--preset", choices=PRESETS, default="full",
                       help="full = the paper's scale (~1 h each on 2 cores), reduced = minutes")
    paper.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="FIELD=VALUE", help="override a config field (JSON value)")
    paper.add_argument("--scm1d", type=Path, help="user copy of scm1d (Mulan ARFF/CSV)")
    paper.add_argument("--gina-prior2", type=Path, help="user copy of gina_prior2 (OpenML 1041)")
    paper.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: tiny models, more threads only contend)")
    paper.add_argument("--no-png", action="store_true", help="skip PNG export")
    paper.add_argument("--no-progress", action="store_true", help="hide progress bars")
    paper.add_argument("--publish", type=Path, metavar="DIR",
                       help="also copy each experiment's figures, tables and summary into DIR "
                            "(flat, one plotly.min.js; docs/figures is the results page's)")
    paper.set_defaults(func=_handle)
    return paper


def _handle(args: argparse.Namespace) -> int:
    """Run the parsed command; bad options or data files give exit code 2 and a message."""
    try:
        return _run(args)
    except ShrinkNetsError as exc:
        print(f"shrinknets paper: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = "quick" if args.quick else args.preset
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    user_files = tuple((k, str(v)) for k, v in (("scm1d", args.scm1d),
                                                 ("gina_prior2", args.gina_prior2)) if v)
    all_fields = {f.name for n in names for f in fields(EXPERIMENTS[n][0])}
    for item in args.overrides:
        key = item.partition("=")[0]
        if key not in all_fields:
            raise ConfigError(
                f"--set {key}=...: no field {key!r} in the config of {', '.join(names)}; "
                f"use one of {sorted(all_fields)}"
            )
    for name in names:
        config_cls = EXPERIMENTS[name][0]
        overrides: dict[str, Any] = {}
        for item in args.overrides:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ConfigError(f"--set {item!r} is malformed; write FIELD=VALUE")
            if key in {f.name for f in fields(config_cls)} or len(names) == 1:
                overrides[key] = _parse_value(config_cls, key, raw)
        if user_files and "user_files" in {f.name for f in fields(config_cls)}:
            overrides["user_files"] = user_files
        out = args.out / name if args.experiment == "all" else args.out
        summary = run_experiment(name, out, preset=preset, overrides=overrides,
                                 progress_bar=not args.no_progress,
                                 png=False if args.no_png else None)
        print(f"{name}: wrote {out} in {summary['wall_time_s']:.1f} s "
              f"({len(summary['files'])} files)")
        if args.publish:
            copied = publish(out, summary, args.publish)
            print(f"{name}: published {len(copied)} files to {args.publish}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m studies.paper <experiment> --out DIR``."""
    parser = argparse.ArgumentParser(prog="shrinknets")
    sub = parser.add_subparsers(dest="command", required=True)
    add_paper_commands(sub)
    args = parser.parse_args(["paper", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
