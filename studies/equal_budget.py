"""Arms on equal compute: the shared spec of a fair comparison, λ-arm variants, one arm's run.

The comparison of λ search with width search (docs/results.md §4, ``bench/search_efficiency.py``)
gives every arm **the same spec and the same compute budget** in training MACs, fixed from the
spec and the data before anything runs: ``budget`` × the MACs of training the
``max_width``-wide static net for all its epochs (``epochs + finetune_epochs``). No trial
starts once an arm's budget is spent (:mod:`studies.budget`).

A *variant* changes how the λ arms train β, written ``lam_scale/penalty_weight`` (the β
step's scale, ``grad`` or ``none``, as ``training.lam_scale``; the penalty ``uniform``,
``params`` or ``macs``), optionally followed by λ-path, training or warm-start settings:
``grad/uniform:epochs_per_step=3``, ``none/uniform:gamma=0.99,removal_every_steps=10``,
``grad/uniform:refine=none`` (the path ends at its grid) or
``grad/uniform:warm_start=false`` (λ search from scratch). The legacy words of
``training.beta_step`` (``layer_normalised`` = ``grad``, ``prox`` = ``none``) still read, so
the commands recorded in the docs rerun. The width arms,
and so the reference and the level of the comparison, are the same for every variant.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from studies._search_space import TrialPlan, model_spec
from studies.arms import ARMS, arm_spec
from studies.budget import _macs_per_sample
from studies.compare import SENSITIVITY_FACTORS, USEFUL_FACTOR, Comparison
from studies.execute import run_study
from studies.objectives import load_study_data
from studies.spec import LEGACY_BETA_STEPS, StudySpec, load_spec

__all__ = [
    "LAMBDA_ARMS",
    "VARIANT_ARMS",
    "ArmRun",
    "arm_names",
    "equal_budget_spec",
    "full_training_macs",
    "params_digest",
    "run_arm",
    "run_case",
    "run_line",
    "summarise_runs",
    "variant_spec",
]

_JUDGED = [a for a in ARMS if a != "width"]


def full_training_macs(spec: StudySpec, data: Any) -> float:
    """Training MACs of the static ``max_width`` net for ``epochs + finetune_epochs``
    (forward + backward counted as 3 × forward, like the trainer's ``cost_macs``)."""
    arch = spec.architecture
    plan = TrialPlan((arch.max_width,) * arch.depth, False, 0.0, 0.0, 0.0)
    mspec = model_spec(spec, plan, n_features=data.n_features, n_outputs=data.n_outputs,
                       image_shape=data.image_shape)
    epochs = spec.training.epochs + spec.training.finetune_epochs
    return 3.0 * _macs_per_sample(mspec) * len(data.x_train) * epochs


def equal_budget_spec(
    dataset: str,
    seed: int,
    *,
    epochs: int,
    budget: float,
    name: str = "bench",
    max_width: int = 256,
    batch_size: int = 128,
    finetune_epochs: int = 2,
) -> StudySpec:
    """The shared spec of one (dataset, seed): two hidden layers of at most ``max_width``,
    ``epochs`` + ``finetune_epochs`` per trial, TPE on (val loss, params), and a compute
    budget of ``budget`` full-width trainings (:func:`full_training_macs`)."""
    spec = load_spec({
        "name": f"{name}-{dataset}-{seed}",
        "dataset": {"name": dataset, "seed": 0},
        "architecture": {"depth": 2, "max_width": max_width},
        "training": {"epochs": epochs, "batch_size": batch_size, "device": "cpu",
                     "finetune_epochs": finetune_epochs},
        "search": {"kind": "lambda", "n_trials": 1, "sampler": "tpe", "seed": seed,
                   "objectives": ["val_loss", "params"], "max_macs": 1.0},
    })
    full = full_training_macs(spec, load_study_data(spec))
    search = spec.search.model_copy(update={"max_macs": budget * full, "n_trials": None})
    return spec.model_copy(update={"search": search})


def _value(value: str) -> int | float | bool | str:
    """A variant's value: a number, ``true``/``false``, or a word (``refine=none``)."""
    if value in ("true", "false"):
        return value == "true"
    try:
        return float(value) if "." in value or "e" in value else int(value)
    except ValueError:
        return value


def variant_spec(spec: StudySpec, variant: str | None, path: dict[str, Any] | None = None
                 ) -> StudySpec:
    """The shared spec with the λ arms' settings of ``variant`` (module docstring); ``path``
    sets λ-path fields (``warmup_epochs``, ``epochs_per_step``, ``finetune_epochs``,
    ``refine``, ``passes`` …); ``warm_start=true|false`` sets λ search's warm start."""
    training = spec.training
    path = dict(path or {})
    warm: dict[str, Any] = {}
    if variant:
        head, _, extra = variant.partition(":")
        scale, weight = head.split("/")
        changes: dict[str, Any] = {"lam_scale": LEGACY_BETA_STEPS.get(scale, scale),
                                   "penalty_weight": weight}
        for item in filter(None, extra.split(",")):
            key, value = item.split("=")
            if key in type(training).model_fields:
                changes[key] = _value(value)
            elif key == "warm_start":
                warm["enabled"] = _value(value)
            else:
                path[key] = _value(value)
        training = type(training).model_validate({**training.model_dump(), **changes})
    search = spec.search.model_copy(update={
        "path": spec.search.path.model_copy(update=path),
        "warm_start": spec.search.warm_start.model_copy(update=warm),
    })
    return spec.model_copy(update={"training": training, "search": search})


ArmRun = tuple[optuna.Study, float, float]
"""An arm's study, its CPU seconds (``time.process_time``) and its wall seconds."""


def run_arm(spec: StudySpec, arm: str, *, path_steps: int, name: str | None = None,
            storage: str | optuna.storages.BaseStorage | None = None) -> ArmRun:
    """Run one arm of ``spec`` (a λ path on ``path_steps`` grid points) to its budget.

    Args:
        spec: The shared (or variant) spec.
        arm: One of :data:`studies.arms.ARMS`.
        path_steps: Grid points of a λ path (its spec has no trial count: the budget is
            compute).
        name: The study's name (default: the spec's name and the arm).
        storage: Where the study lives (default: in memory).
    """
    one = arm_spec(spec, arm, path_steps=path_steps)
    one = one.model_copy(update={"name": name or f"{spec.name}-{arm}"})
    cpu, wall = time.process_time(), time.perf_counter()
    study = run_study(one, storage or optuna.storages.InMemoryStorage(), progress=False)
    return study, time.process_time() - cpu, time.perf_counter() - wall


LAMBDA_ARMS: tuple[str, ...] = ("lambda", "lambda_path")
#: The arms a variant may change: the λ arms and the prune path (it runs the λ path's
#: schedule — warm-up, β step at λ = 0, steps — so it takes the same settings).
VARIANT_ARMS: tuple[str, ...] = (*LAMBDA_ARMS, "prune_path")


def arm_names(arms: Sequence[str], variants: Sequence[str] = (),
              variant_arms: Sequence[str] = LAMBDA_ARMS) -> list[str]:
    """The arms a case runs: ``arms`` in :data:`~studies.arms.ARMS` order (``width`` always:
    it sets the reference and the level), then ``arm[variant]`` per variant."""
    names = [a for a in ARMS if a in arms or a == "width"]
    return names + [f"{a}[{v}]" for v in variants for a in variant_arms]


def run_case(
    spec: StudySpec,
    names: Sequence[str],
    *,
    path_steps: int,
    lambda_variant: str | None = None,
    path: dict[str, Any] | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    on_arm: Callable[[str], object] | None = None,
) -> tuple[dict[str, optuna.Study], dict[str, tuple[float, float]]]:
    """Run every arm of :func:`arm_names` on one shared spec (one dataset and seed).

    The λ arms and the prune path take ``lambda_variant`` (``None`` = the spec's own
    settings), an ``arm[variant]`` its variant, both with the path fields ``path``; the
    width arms run the shared spec. Each study is named after the spec and the arm (``[``,
    ``/`` and other characters a study name cannot hold become ``_``).

    Returns:
        The studies and their (CPU, wall) seconds, both by arm name; ``on_arm(name)`` is
        called after each arm.
    """
    studies: dict[str, optuna.Study] = {}
    times: dict[str, tuple[float, float]] = {}
    for name in names:
        arm, _, variant = name.partition("[")
        if arm in VARIANT_ARMS:
            one = variant_spec(spec, variant.rstrip("]") or lambda_variant, path)
        else:
            one = spec
        study_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{spec.name}-{name}").strip("_")
        studies[name], cpu, wall = run_arm(one, arm, path_steps=path_steps, name=study_name,
                                           storage=storage)
        times[name] = (cpu, wall)
        if on_arm is not None:
            on_arm(name)
    return studies, times


def _gmean(values: list[float]) -> float | None:
    good = [max(v, 1e-3) for v in values if v is not None and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in good)) if good else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def params_digest(study: optuna.Study, first: int = 20) -> str:
    """A fingerprint of the parameters a study's first ``first`` trials sampled: two runs
    of one seed on two machines sampled the same trials exactly when their digests match
    (then a difference in results comes from training, not from the sampler)."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)[:first]
    text = json.dumps([t.params for t in trials], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def run_line(
    dataset: str, seed: int, c: Comparison, times: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The per-(dataset, seed) line of a comparison, with each arm's CPU and wall seconds
    and the digest of its first trials' parameters (:func:`params_digest`)."""
    studies = dict(zip(c.arm_names, c.sources, strict=False))
    arms = {}
    for a in c.arms:
        within = a.smallest_within_accuracy or a.smallest_within_loss or {}
        arms[a.arm] = {
            "compute_share": _round(a.compute_share),
            "reached": a.reached,
            "hv": _round(a.hypervolume),
            "hv_at_width_compute_ratio": _round(_hv_ratio(c, a.arm)),
            "test_hv_at_width_compute_ratio": _round(_hv_ratio(c, a.arm, test=True)),
            "best_val_loss": _round(a.best_val_loss, 4),
            "trials": a.n_finished,
            "pruned": a.n_pruned,
            "macs": a.total_cost_macs,
            "smallest_within_acc_params": within.get("params"),
            "smallest_within_acc_widths": within.get("widths"),
            "cpu_s": round(times[a.arm][0], 1),
            "wall_s": round(times[a.arm][1], 1),
        }
        source = studies.get(a.arm)
        if isinstance(source, optuna.Study):
            arms[a.arm]["params_digest"] = params_digest(source)
    return {
        "dataset": dataset, "seed": seed, "reference_loss": _round(c.region.loss, 4)
        if c.region else None, "level": _round(c.level), "arms": arms,
    }


def _judged(runs: list[tuple[str, Comparison]]) -> list[str]:
    return [a for a in runs[0][1].arm_names if a != "width"] if runs else list(_JUDGED)


def _shares(runs: list[tuple[str, Comparison]], factor: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in _judged(runs):
        if factor is None:
            values = [c.arm(arm).compute_share for _, c in runs]
        else:
            values = [c.sensitivity[factor][arm] for _, c in runs]
        out[arm] = _round(_gmean([v for v in values if v is not None]))
    return out


def _hv_ratio(c: Comparison, arm: str, *, test: bool = False) -> float | None:
    """An arm's useful hypervolume at width search's total compute ÷ width search's final
    one (``test``: both scored on the test split); ``None`` when width search has none."""
    width, own = c.arm("width"), c.arm(arm)
    top = width.test_hypervolume if test else width.hypervolume
    at = own.test_hv_at_baseline_compute if test else own.hv_at_baseline_compute
    return at / top if top > 0 else None


def _hv_ratios(runs: list[tuple[str, Comparison]], *, test: bool = False) -> dict[str, Any]:
    """Per arm, the geometric mean over runs of :func:`_hv_ratio`."""
    return {
        arm: _round(_gmean([r for _, c in runs if (r := _hv_ratio(c, arm, test=test)) is not None]))
        for arm in runs[0][1].arm_names
    }


def summarise_runs(runs: list[tuple[str, Comparison]], cpu0: float, wall0: float) -> dict[str, Any]:
    """Aggregate (dataset, comparison) runs: per arm, the geometric-mean compute share and
    how many runs reached the level, the hypervolume at width search's compute, the
    reference's sensitivity, per-dataset shares and the smallest accurate net (keys in
    ``bench/search_efficiency.py``'s docstring); ``cpu0``/``wall0`` are the start times."""
    shares = _shares(runs)
    out: dict[str, Any] = {
        "lambda_search_compute_share": shares.get("lambda"),
        "lambda_path_compute_share": shares.get("lambda_path"),
        "prune_path_compute_share": shares.get("prune_path"),
        "width_hyperband_compute_share": shares.get("width_hyperband"),
        "width_mo_asha_compute_share": shares.get("width_mo_asha"),
        "reached": {
            arm: f"{sum(c.arm(arm).reached for _, c in runs)}/{len(runs)}"
            for arm in runs[0][1].arm_names
        },
        "variants": {k: v for k, v in shares.items() if "[" in k},
        "hv_at_width_compute": _hv_ratios(runs),
        "test_hv_at_width_compute": _hv_ratios(runs, test=True),
        "reference": (
            f"hypervolume over (val loss, log10 params); reference loss = {USEFUL_FACTOR:g} × "
            "width search's best val loss, reference size = log10(1.1 × params of the "
            "max_width × max_width static net); level = width search's final useful "
            "hypervolume; equal MAC budgets"
        ),
        "sensitivity": {
            f"{f:g}x": _shares(runs, f"{f:g}") for f in SENSITIVITY_FACTORS
        },
        "per_dataset": {},
        "smallest_within_accuracy": {},
        "cpu_minutes": round((time.process_time() - cpu0) / 60, 1),
        "wall_minutes": round((time.perf_counter() - wall0) / 60, 1),
    }
    for dataset in dict.fromkeys(d for d, _ in runs):
        mine = [(d, c) for d, c in runs if d == dataset]
        out["per_dataset"][dataset] = {
            "compute_share": _shares(mine),
            "reached": {arm: f"{sum(c.arm(arm).reached for _, c in mine)}/{len(mine)}"
                        for arm in mine[0][1].arm_names},
            "hv_at_width_compute": _hv_ratios(mine),
            "test_hv_at_width_compute": _hv_ratios(mine, test=True),
        }
        sizes = {}
        for arm in mine[0][1].arm_names:
            found = [
                (c.arm(arm).smallest_within_accuracy or {}).get("params") for _, c in mine
            ]
            known = [v for v in found if v is not None]
            sizes[arm] = statistics.median(known) if known else None
        if any(v is not None for v in sizes.values()):
            out["smallest_within_accuracy"][dataset] = sizes
    return out
