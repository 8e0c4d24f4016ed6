"""A λ path's moving parts: its state, what it trains, and how it stores its trials.

``studies.lambda_path`` runs a path with these: :class:`PathState` is its position (what a
checkpoint holds besides the trainers), :class:`PathRun` the network, optimizer and dead
rule it continues and its snapshots, :class:`PathWriter` trains a pass of the grid and the
refinement (``studies._path_refine``) and stores every trial, charged exactly once.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.removal.dead import DeadRule
from shrinknets_core.training.trainer import Trainer
from studies._checkpoints import save_checkpoint, trainer_from_state
from studies._path_refine import (
    Snapshot,
    budget_spent,
    continue_snapshot,
    drop_dominated,
    next_candidate,
    pass_plan,
    snapshot_states,
)
from studies._search_space import TrialPlan, fixed_plan
from studies._trial import TrialStopped, trial_seed
from studies.models import MODEL_ATTR, ModelKeeper
from studies.objectives import (
    EpochHook,
    TrialRun,
    fixed_config,
    load_study_data,
    objective_values,
    result_attrs,
    selected_epoch,
    train_trial,
)
from studies.spec import StudySpec

__all__ = [
    "CHECKPOINT_ATTR",
    "PathRun",
    "PathState",
    "PathWriter",
    "Stored",
    "charge",
    "record_interrupted",
    "start_pass",
    "store_trial",
    "stored_trials",
]

CHECKPOINT_ATTR = "path_checkpoint"


@dataclass
class PathState:
    """Where a path is: what a checkpoint holds besides the trainers' own states.

    Attributes:
        next_step: the index, in the current pass's λ values, to train next.
        grid: the λ grid (pass 0; a shifted pass's values follow from it).
        epoch_offset: epochs trained along the path so far (history numbering).
        totals: cumulative ``cost_macs``, ``wall_time_s``, ``cost_inputs`` of the path.
        pending: cost not yet charged to a stored trial (the warm-up), ``macs``/``wall``.
        segment: restarts from a fresh network so far (a checkpoint resume is no restart).
        pass_index: the pass (0: the grid; then shifted passes, ``studies._path_refine``).
        grid_end: why the current pass ended (``None`` while it runs).
        refine_round, refine_order, refine_next: the refinement's round, its candidates in
            order and the next one's index (``studies._path_refine``).
    """

    next_step: int
    grid: list[float]
    epoch_offset: int = 0
    segment: int = 0
    totals: dict[str, float] = field(
        default_factory=lambda: {"cost_macs": 0.0, "wall_time_s": 0.0, "cost_inputs": 0.0}
    )
    pending: dict[str, float] = field(default_factory=lambda: {"macs": 0.0, "wall": 0.0})
    pass_index: int = 0
    grid_end: str | None = None
    refine_round: int = 0
    refine_order: list[int] = field(default_factory=list)
    refine_next: int = 0

    def key(self, step: int) -> int:
        """A snapshot's index: ``pass × grid points + step``."""
        return self.pass_index * len(self.grid) + step


@dataclass
class Stored:
    """What a path has stored: its steps as (pass, step), their costs and the
    refinement's (cumulative), restarts so far, and its refinements as (snapshot, round)."""

    steps: set[tuple[int, int]]
    totals: dict[str, float]
    segments: int
    refined: set[tuple[int, int]]

    @property
    def grid_done(self) -> set[int]:
        """The grid's (pass 0's) stored steps."""
        return {k for p, k in self.steps if p == 0}


def stored_trials(study: optuna.Study) -> Stored:
    out = Stored(set(), {"cost_macs": 0.0, "wall_time_s": 0.0, "cost_inputs": 0.0}, 0, set())
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = t.user_attrs
        if "path_step" in attrs:
            out.steps.add((int(attrs.get("path_pass", 0)), int(attrs["path_step"])))
        elif "path_snapshot" in attrs:
            out.refined.add((int(attrs["path_snapshot"]), int(attrs["path_round"])))
        else:
            continue
        out.totals["cost_macs"] += float(attrs.get("search_cost_macs", 0))
        out.totals["wall_time_s"] += float(attrs.get("search_wall_time_s", 0))
        out.totals["cost_inputs"] += float(attrs.get("step_cost_inputs", 0))
        out.segments = max(out.segments, int(attrs.get("path_segment", 0)) + 1)
    return out


class PathRun:
    """What a path trains: its live network, weight optimizer and dead rule (continued
    step to step), the warm-up's end (a shifted pass starts there) and its snapshots."""

    def __init__(self) -> None:
        self.model: ShrinkNet | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.rule: DeadRule | None = None
        self.trainer: Trainer | None = None
        self.warm: dict[str, Any] | None = None
        self.snapshots: dict[int, Snapshot] = {}

    def follow(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.model, self.optimizer, self.rule = trainer.model, trainer.optimizer, trainer.dead_rule

    def keep_warm(self) -> None:
        """Remember the warm-up's end (a copy: training goes on in place)."""
        if self.trainer is not None:
            self.warm = copy.deepcopy(self.trainer.state_dict())



def start_pass(spec: StudySpec, run: PathRun, device: str | None) -> None:
    """Put the path's network, optimizer and dead rule back to the warm-up's end."""
    assert run.warm is not None
    run.follow(trainer_from_state(spec, copy.deepcopy(run.warm), device))


class PathWriter:
    """Trains a path's passes and refinements and stores what they give (one per path run)."""

    def __init__(
        self, study: optuna.Study, spec: StudySpec, run: PathRun, state: PathState,
        hooks: list[EpochHook], call: Callable[..., Any], checkpoints: Any | None,
        models: ModelKeeper | None, stored: Stored,
    ) -> None:
        self.study, self.spec, self.run, self.state = study, spec, run, state
        self.hooks, self.call, self.checkpoints, self.models = hooks, call, checkpoints, models
        self.stored = stored
        self.keep = spec.path_refines
        self.prune = spec.search.kind == "prune_path"

    def lam(self, value: float) -> float:
        """The λ a step of grid value ``value`` trains at (a prune path's value is its size
        target: it trains at λ = 0)."""
        return 0.0 if self.prune else value

    def grid(self, device: str | None) -> str | None:
        """Train the current pass's remaining steps, storing each; sets ``grid_end``.

        Returns:
            Why the path ends here (its compute budget is spent), or ``None``.
        """
        spec, state, run = self.spec, self.state, self.run
        epochs = spec.search.path_epochs_per_step
        finetune = spec.path_finetune_epochs
        values, scales = pass_plan(spec, state.grid, state.pass_index)
        for step in range(state.next_step, len(values)):
            if budget_spent(spec, state.totals) is not None:
                record_interrupted(self.study, state, "before a step: compute budget spent")
                return "compute budget spent"
            value = values[step]
            key = state.key(step)
            plan, config = fixed_config(spec, self.lam(value), epochs,
                                        seed=trial_seed(spec, key), device=device)
            if scales is not None:
                config = replace(config, lam_layer_scales=scales)
            start = list(run.model.alive_widths()) if run.model is not None \
                else list(plan.widths)
            if self.prune:
                self.prune_to(value, config)
            result = train_trial(
                spec, plan, config, hooks=self.hooks, model=run.model,
                optimizer=run.optimizer, dead_rule=run.rule, epoch_offset=state.epoch_offset,
                branch=True, finetune_epochs=finetune,
            )
            self.charged(result, f"during step {step} of pass {state.pass_index} "
                         f"({self.param}={value:.4g}); {len(self.stored.steps)} step(s) are "
                         "stored")
            run.follow(result.trainer)
            state.epoch_offset += len(result.trainer.history)
            state.next_step = step + 1
            where = (state.pass_index, step)
            if where not in self.stored.steps:  # trained again after a restart: charged on
                extra: dict[str, Any] = {"path_step": step}
                if state.pass_index:
                    extra["path_pass"] = state.pass_index
                if scales is not None:
                    extra["path_layer_scales"] = list(scales)
                self.store(result, plan, start, value, extra,
                           f"pass{state.pass_index}-step{step}")
                self.stored.steps.add(where)
            if self.keep:
                run.snapshots[key] = Snapshot.of_step(key, value, result, finetune)
                drop_dominated(run.snapshots)
            collapsed = all(w <= 1 for w in run.model.alive_widths())  # type: ignore[union-attr]
            if collapsed:  # every later λ would give the same network
                state.grid_end = "collapsed: every layer is down to one neuron"
            elif state.next_step >= len(values):
                state.grid_end = "end of the grid"
            self.save()
            if collapsed:
                return None
        state.grid_end = state.grid_end or "end of the grid"
        return None

    def refine(self) -> str | None:
        """Refinement rounds (``studies._path_refine``) until no candidate is left.

        Returns:
            Why the path ends here (budget spent, or its rounds done), or ``None`` when no
            candidate is left (a shifted pass may follow).
        """
        spec, state, run = self.spec, self.state, self.run
        rounds = spec.search.path.refine_rounds
        while True:
            if budget_spent(spec, state.totals) is not None:
                return "compute budget spent"
            key = next_candidate(state, run.snapshots, rounds)
            if key is None:
                if rounds is not None and state.refine_round >= rounds:
                    return f"refined: {rounds} round(s) done"
                return None
            snap = run.snapshots[key]
            start = list(snap.tuner.model.alive_widths()) if snap.tuner is not None else []
            cont = continue_snapshot(spec, snap, self.hooks)
            self.charged(cont, f"refining snapshot {key} (round {state.refine_round})")
            where = (key, state.refine_round)
            if where not in self.stored.refined:
                self.store(cont, fixed_plan(spec, self.lam(snap.lam)), start, snap.lam,
                           {"path_snapshot": key, "path_round": state.refine_round,
                            "finetune_epochs_total": snap.epochs},
                           f"snapshot{key}-round{state.refine_round}")
                self.stored.refined.add(where)
            state.refine_next += 1
            drop_dominated(run.snapshots)
            self.save()

    @property
    def param(self) -> str:
        """The parameter a stored trial carries: ``lam``, or a prune path's size target."""
        return "target_params" if self.prune else "lam"

    def prune_to(self, target: float, config: Any) -> None:
        """A prune path's step starts here: prune the path's network by importance to
        ``target`` parameters (``Trainer.prune_to``), charging the scoring's compute."""
        run, state = self.run, self.state
        if run.trainer is None:  # no warm-up: the step's trainer starts here
            assert run.model is not None
            run.follow(Trainer(run.model, load_study_data(self.spec), config))
        assert run.trainer is not None
        # slices the network, its optimizer and dead rule in place: ``run`` still holds them
        outcome = run.trainer.prune_to(int(target), self.spec.search.path.importance)
        for total, pend, amount in (("cost_macs", "macs", outcome.cost_macs),
                                    ("wall_time_s", "wall", outcome.wall_time_s)):
            state.totals[total] += amount
            state.pending[pend] += amount

    def charged(self, run: TrialRun, where: str) -> None:
        """Charge a training's costs to the path; when a hook stopped it, charge them as
        an interrupted trial and raise ``TrialStopped`` saying ``where``."""
        charge(self.state, run.result)
        if run.stopped_by is not None:
            record_interrupted(self.study, self.state, where)
            raise TrialStopped(f"{self.spec.search.kind} of study {self.study.study_name!r} "
                               f"stopped {where}")

    def store(self, run: TrialRun, plan: TrialPlan, start: list[int], value: float,
              extra: dict[str, Any], label: str) -> None:
        """Store a step or refinement as a finished trial (:func:`store_trial`)."""
        store_trial(self.study, self.spec, self.state, run, plan, start, value=value,
                    param=self.param, extra=extra, label=label, models=self.models,
                    call=self.call)

    def save(self) -> None:
        """Checkpoint the path (when it has a store)."""
        if self.checkpoints is None:
            return
        run, state = self.run, self.state
        assert run.trainer is not None
        payload = {
            "trainer": run.trainer.state_dict(), "path": state.__dict__,
            "spec": run.model.spec.to_dict() if run.model is not None else None,
            "warm": run.warm if self.keep else None,
            "snapshots": snapshot_states(run.snapshots) if self.keep else [],
        }
        self.call(save_checkpoint, self.study, self.checkpoints, payload,
                  attr=CHECKPOINT_ATTR,
                  label=f"pass{state.pass_index}-step{state.next_step - 1}",
                  meta={"next_step": state.next_step})


def charge(state: PathState, result: Any) -> None:
    """Add a training's costs to the path's totals and to what is not yet charged."""
    state.totals["cost_macs"] += result.cost_macs
    state.totals["wall_time_s"] += result.wall_time_s
    state.totals["cost_inputs"] += result.cost_inputs
    state.pending["macs"] += result.cost_macs
    state.pending["wall"] += result.wall_time_s



def record_interrupted(study: optuna.Study, state: PathState, where: str) -> None:
    """Charge compute that no stored trial carries (a warm-up, step or refinement that was
    stopped, or steps trained again after a restart) as a FAIL trial without
    ``path_step``, so budgets and comparisons count it."""
    if state.pending["macs"] <= 0 and state.pending["wall"] <= 0:
        return
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.FAIL,
            user_attrs={
                "search_cost_macs": float(state.pending["macs"]),
                "search_wall_time_s": float(state.pending["wall"]),
                "path_interrupted": True,
                "failure_reason": f"path stopped {where}; its compute is charged here",
            },
        )
    )
    state.pending = {"macs": 0.0, "wall": 0.0}



def store_trial(
    study: optuna.Study,
    spec: StudySpec,
    state: PathState,
    run: TrialRun,
    plan: TrialPlan,
    start: list[int],
    *,
    value: float,
    param: str = "lam",
    extra: dict[str, Any],
    label: str,
    models: ModelKeeper | None,
    call: Callable[..., Any],
) -> None:
    """Store a step or a refinement as a finished trial (``extra``: ``path_step`` or
    ``path_snapshot``…) charged with what ``state.pending`` holds, which it then clears;
    its one parameter ``param`` (``lam``, or a prune path's ``target_params``) is
    ``value``."""
    result = run.result
    attrs = result_attrs(spec, result, plan)
    attrs.update(
        history=run.history,
        initial_widths=start,
        path_segment=state.segment,
        selected_epoch=selected_epoch(run),
        step_cost_inputs=float(result.cost_inputs),
        # this training's own cost plus what no stored trial carries yet (the warm-up, …)
        search_cost_macs=float(state.pending["macs"]),
        search_wall_time_s=float(state.pending["wall"]),
        cost_macs=state.totals["cost_macs"],
        wall_time_s=state.totals["wall_time_s"],
        cost_inputs=state.totals["cost_inputs"],
        **extra,
    )
    values = objective_values(spec, result)
    finite = all(math.isfinite(v) for v in values)
    lo, hi = min(state.grid), max(state.grid)
    distribution = optuna.distributions.FloatDistribution(min(lo, value), max(hi, value),
                                                          log=True)
    links: dict[str, Any] = {}
    if models is not None and finite:
        attrs[MODEL_ATTR], links = models.files_for_new_trial(
            study, spec, load_study_data(spec), run.model, attrs, {param: value},
            values, label=label,
        )
    trial = optuna.trial.create_trial(
        state=TrialState.COMPLETE if finite else TrialState.FAIL,
        values=values if finite else None,
        params={param: value},
        distributions={param: distribution},
        user_attrs=attrs,
        system_attrs=links,
        intermediate_values={int(h["epoch"]): float(h["val_loss"]) for h in run.history},
    )
    call(study.add_trial, trial)
    state.pending = {"macs": 0.0, "wall": 0.0}
    if models is not None:
        call(models.prune, study)
