"""The ``lambda_path`` kind: one training whose λ is raised step by step.

The grid is ``n_trials`` λ values spaced geometrically from ``lam_min`` to ``lam_max``.
Step 0 trains a ``max_width`` ShrinkNet at ``lam_min``; every later step continues from
the already-shrunk network, *the same weight optimizer* (Adam moments included) and the
same dead-neuron rule state at the next λ, for ``search.epochs_per_step`` epochs (default
``training.epochs``); only λ (the proximal threshold) changes. Networks only shrink.
Each step is stored as a finished trial (``study.add_trial``) with
parameter ``lam``, its own history (epochs numbered along the whole path),
``path_step``, ``initial_widths`` (where the step started), and costs:

* ``search_cost_macs`` / ``search_wall_time_s``: this step only (what the search spent);
* ``cost_macs`` / ``wall_time_s`` / ``cost_inputs``: cumulative along the path up to and
  including this step (the cost of obtaining this network).

With ``training.finetune_epochs`` > 0, each step's recorded network is a fine-tuned copy
(λ = 0 for that many epochs, its cost counted in the step); the path itself continues
from the network as it was before fine-tuning.

A compute budget (``search.max_macs`` / ``max_seconds``) ends the path before the first
step that would start with the budget spent (``studies.budget``); the path's own cost,
restarts included, is what is charged.

Resume: the trained network is not checkpointed in the storage, so when a path stops
(worker crash, cancellation) and is run again, the steps already stored are kept and the
path restarts from a fresh ``max_width`` network at the first missing λ, continuing from
there; the restart's compute is added to the cumulative cost (``path_segment`` counts
restarts). A step whose λ is already stored later on the grid is trained (the path needs
it) but not stored twice.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError
from shrinknets_core.models import ShrinkNet
from studies._search_space import fixed_plan, lam_distribution, train_config
from studies.budget import Spent, exhausted
from studies.objectives import EpochHook, result_attrs, train_trial
from studies.spec import StudySpec

__all__ = ["lambda_grid", "run_lambda_path"]


def lambda_grid(spec: StudySpec) -> list[float]:
    """The path's λ values: ``n_trials`` geometric steps from ``lam_min`` to ``lam_max``."""
    lo, hi, n = spec.search.lam_min, spec.search.lam_max, spec.search.n_trials
    if n == 1:
        return [lo]
    ratio = math.log(hi / lo) / (n - 1)
    grid = [lo * math.exp(ratio * i) for i in range(n)]
    grid[-1] = hi  # exact end points: they must lie inside the parameter's distribution
    return [min(max(x, lo), hi) for x in grid]


def _done_steps(study: optuna.Study) -> tuple[set[int], dict[str, float], int]:
    done: set[int] = set()
    totals = {"cost_macs": 0.0, "wall_time_s": 0.0, "cost_inputs": 0.0}
    segments = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "path_step" in t.user_attrs:
            done.add(int(t.user_attrs["path_step"]))
            totals["cost_macs"] += float(t.user_attrs.get("search_cost_macs", 0))
            totals["wall_time_s"] += float(t.user_attrs.get("search_wall_time_s", 0))
            totals["cost_inputs"] += float(t.user_attrs.get("step_cost_inputs", 0))
            segments = max(segments, int(t.user_attrs.get("path_segment", 0)) + 1)
    return done, totals, segments


def run_lambda_path(
    study: optuna.Study,
    spec: StudySpec,
    *,
    device: str | None = None,
    on_epoch: EpochHook | None = None,
) -> None:
    """Train along the λ grid, storing each step as a finished trial (see module docstring).

    Args:
        study: a study created for ``spec`` (kind ``lambda_path``).
        spec: its spec.
        device: overrides ``training.device``.
        on_epoch: called after every epoch; raising ``StopTraining`` stops the path (the
            steps finished so far stay stored) and raises ``TrialStopped``.

    Raises:
        TrialStopped: ``on_epoch`` stopped the path.
        ConfigError: the spec is not of kind ``lambda_path``.
    """
    from studies.execute import TrialStopped, trial_seed

    if spec.search.kind != "lambda_path":
        raise ConfigError(
            f"search.kind is {spec.search.kind!r}; run_lambda_path needs 'lambda_path'"
        )
    grid = lambda_grid(spec)
    done, totals, segment = _done_steps(study)
    missing = [i for i in range(len(grid)) if i not in done]
    if not missing:
        return
    epochs = spec.search.epochs_per_step or spec.training.epochs
    model: ShrinkNet | None = None
    optimizer = None
    rule = None
    offset = 0
    hooks = [on_epoch] if on_epoch is not None else []
    for step in range(missing[0], len(grid)):
        used = Spent(len(done), totals["cost_macs"], totals["wall_time_s"])
        if spec.search.compute_budget and exhausted(spec, used) is not None:
            return  # the compute budget ends the path early (studies.budget)
        plan = fixed_plan(spec, grid[step])
        start = list(model.alive_widths()) if model is not None else list(plan.widths)
        seed = trial_seed(spec, step)
        config = replace(train_config(spec, plan, seed=seed, device=device), epochs=epochs)
        run = train_trial(
            spec,
            plan,
            config,
            hooks=hooks,
            model=model,
            optimizer=optimizer,
            dead_rule=rule,
            epoch_offset=offset,
            branch=True,
        )
        if run.stopped_by is not None:
            raise TrialStopped(
                f"λ path of study {study.study_name!r} stopped during step {step} "
                f"(λ={grid[step]:.3g}); {len(done)} step(s) are stored"
            )
        trainer, result = run.trainer, run.result
        model, optimizer, rule = trainer.model, trainer.optimizer, trainer.dead_rule
        offset += len(trainer.history)
        totals["cost_macs"] += result.cost_macs
        totals["wall_time_s"] += result.wall_time_s
        totals["cost_inputs"] += result.cost_inputs
        if step in done:
            continue
        _store_step(
            study, spec, step, grid[step], result, plan, run.history, start, totals, segment
        )
        done.add(step)


def _store_step(
    study: optuna.Study,
    spec: StudySpec,
    step: int,
    lam: float,
    result: Any,
    plan: Any,
    history: list[dict[str, Any]],
    start: list[int],
    totals: dict[str, float],
    segment: int,
) -> None:
    attrs = result_attrs(spec, result, plan)
    attrs.update(
        history=history,
        initial_widths=start,
        path_step=step,
        path_segment=segment,
        step_cost_inputs=float(result.cost_inputs),
        cost_macs=totals["cost_macs"],
        wall_time_s=totals["wall_time_s"],
        cost_inputs=totals["cost_inputs"],
    )
    values = [float(result.val_loss)]
    if spec.multi_objective:
        values.append(float(result.params))
    finite = all(math.isfinite(v) for v in values)
    trial = optuna.trial.create_trial(
        state=TrialState.COMPLETE if finite else TrialState.FAIL,
        values=values if finite else None,
        params={"lam": lam},
        distributions={"lam": lam_distribution(spec)},
        user_attrs=attrs,
        intermediate_values={int(h["epoch"]): float(h["val_loss"]) for h in history},
    )
    study.add_trial(trial)
