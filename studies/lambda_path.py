"""The ``lambda_path`` kind: one network trained while λ is raised step by step.

As glmnet and LassoNet compute their regularisation paths, the path costs little more
than one training, because every step continues from the last:

1. **Warm-up**: the ``max_width`` ShrinkNet trains at λ = 0 for ``search.path.warmup_epochs``
   (default ``training.epochs``; fractional allowed).
2. **Grid**: ``n_trials`` λ values, geometric, increasing (networks only shrink). With
   ``path.calibrate`` (the default) the top is taken from the data at the warm-up's end:
   for the plain proximal step (``training.beta_step="prox"``) the bottom is
   ``path.lam_ratio × λ_max``, λ_max being the smallest λ that keeps a whole layer switched
   off (``shrinknets_core.training.penalties.prox_lambda_max``, as glmnet's λ_max), and the top the
   larger of λ_max and the λ whose threshold moves |β| ≤ 1 to 0 within one step's batches
   (``1 / (beta_lr · price · batches)``: measured on digits, a grid topped at λ_max alone
   left 229×231 of 256×256 after 16 one-epoch steps); for the layer-normalised
   step, whose λ is the share of its layer's gradient norm a neuron must carry, the top is
   1 (one neuron left) and the bottom ``1/(4·√max_width)``, a quarter of the share each
   neuron of a full-width layer would have if all were equal, so the first steps keep the
   large networks (measured on scm20d, 2×256, 16 steps: a bottom of ``1/√max_width``
   shrank the first snapshot to 67×73 at val loss 0.27; a quarter of it kept 227×237 at
   0.20 and gave 202×189 at 0.21, 146×137 at 0.21, 91×99 at 0.23 for 1.6 full trainings;
   a sixteenth spent 5 more full-width steps for the same sizes).
   Without calibration the grid spans ``search.lam_min .. lam_max``. The grid is stored as
   the study's ``path_grid`` user attribute, so a resumed path uses the same one.
3. **Steps**: at each λ the *same network, weight optimizer (Adam moments included) and
   dead-neuron rule* train on for ``path.epochs_per_step`` epochs (fractional: that share
   of an epoch's batches); only λ changes. The path ends at the grid's end, when every
   layer is down to one live neuron, or when the compute budget is spent.
4. **Snapshots**: after each step a copy is debiased by ``path.finetune_epochs`` at λ = 0
   (dead neurons stay gone; the cost is counted in the step) and stored as a finished trial
   (``study.add_trial``) with parameter ``lam``, its history (epochs numbered along the
   path), ``path_step``, ``initial_widths`` and costs:

   * ``search_cost_macs`` / ``search_wall_time_s``: what this step added to the search
     (its λ phase, its fine-tune and, for the first step, the warm-up);
   * ``cost_macs`` / ``wall_time_s`` / ``cost_inputs``: cumulative along the path.

Resume: with a ``checkpoints`` store (an Optuna artifact store: the service's workers pass
one), the path's state after every step — network, removal log, optimizer, dead rule and
the path's position — is uploaded as an artifact of the study, and a path run again
continues from the latest checkpoint exactly as the uninterrupted path would. Without a
checkpoint it restarts from a fresh network (warm-up included) at the first missing λ and
adds that compute (``path_segment`` counts restarts); after a checkpoint older than the
stored steps, those steps are trained through (the path needs them) but not stored twice.

Every MAC is charged once: a stored step carries its own cost plus anything not yet
charged (the warm-up, steps trained again); compute of a warm-up or step that was stopped
(cancellation, SIGTERM) is stored as a FAIL trial without ``path_step``
(``path_interrupted``). Why the path ended — end of the grid, collapse, compute budget —
is the study's ``path_end`` user attribute; a path that ended is not run again.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import optuna
import torch
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.network.pricing import neuron_prices
from shrinknets_core.removal.dead import DeadRule
from shrinknets_core.training.penalties import prox_lambda_max
from shrinknets_core.training.trainer import TrainConfig, Trainer
from studies._search_space import TrialPlan, fixed_plan, train_config
from studies._trial import TrialStopped, trial_seed
from studies.budget import Spent, exhausted, spent
from studies.models import MODEL_ATTR, ModelKeeper
from studies.objectives import (
    EpochHook,
    build_trial_model,
    load_study_data,
    result_attrs,
    train_trial,
)
from studies.spec import StudySpec
from studies.writes import Patience

__all__ = ["PathState", "calibrated_grid", "lambda_grid", "run_lambda_path"]

T = TypeVar("T")

_CALIBRATION_ROWS = 2048
_CHECKPOINT_ATTR = "path_checkpoint"
_END_ATTR = "path_end"
_GRID_ATTR = "path_grid"


def _geometric(lo: float, hi: float, n: int) -> list[float]:
    if n == 1:
        return [lo]
    ratio = math.log(hi / lo) / (n - 1)
    grid = [lo * math.exp(ratio * i) for i in range(n)]
    grid[0], grid[-1] = lo, hi  # exact end points
    return [min(max(x, lo), hi) for x in grid]


def lambda_grid(spec: StudySpec) -> list[float]:
    """The uncalibrated grid: ``n_trials`` geometric steps over :attr:`StudySpec.lam_range`."""
    lo, hi = spec.lam_range
    return _geometric(lo, hi, spec.search.trial_budget)


def calibrated_grid(spec: StudySpec, model: ShrinkNet) -> list[float]:
    """The grid taken from the data and the β step (module docstring), for a trained model."""
    n = spec.search.trial_budget
    if spec.training.beta_step == "layer_normalised":
        return _geometric(1.0 / (4 * math.sqrt(spec.architecture.max_width)), 1.0, n)
    data = load_study_data(spec)
    param = next(model.parameters())
    x = data.x_train[:_CALIBRATION_ROWS].to(param.device)
    if spec.architecture.kind == "cnn" and data.image_shape is not None:
        x = x.reshape(x.shape[0], *data.image_shape)
    y = data.y_train[:_CALIBRATION_ROWS].to(param.device)
    lam_max = prox_lambda_max(
        model, x, y, classify=data.task == "classification",
        penalty_weight=spec.training.penalty_weight,
    )
    # λ_max is where a switched-off layer stays off; to switch a layer off within one step
    # the threshold must also move |β| ≤ 1 to 0 in that step's batches
    path = spec.search.path
    per_epoch = math.ceil(len(data.x_train) / spec.training.batch_size)
    batches = max(1, round(spec.search.path_epochs_per_step * per_epoch))
    price = min(neuron_prices(model, spec.training.penalty_weight), default=1.0)
    top = max(lam_max, 1.0 / (spec.training.beta_lr * price * batches))
    return _geometric(lam_max * path.lam_ratio, top, n)


@dataclass
class PathState:
    """Where a path is: what a checkpoint holds besides the trainer's own state.

    Attributes:
        next_step: the grid index to train next.
        grid: the λ grid.
        epoch_offset: epochs trained along the path so far (history numbering).
        totals: cumulative ``cost_macs``, ``wall_time_s``, ``cost_inputs`` of the path.
        pending: cost not yet charged to a stored step (the warm-up), ``macs`` and ``wall``.
        segment: restarts from a fresh network so far (a checkpoint resume is no restart).
    """

    next_step: int
    grid: list[float]
    epoch_offset: int = 0
    segment: int = 0
    totals: dict[str, float] = field(
        default_factory=lambda: {"cost_macs": 0.0, "wall_time_s": 0.0, "cost_inputs": 0.0}
    )
    pending: dict[str, float] = field(default_factory=lambda: {"macs": 0.0, "wall": 0.0})


def _done_steps(study: optuna.Study) -> tuple[set[int], dict[str, float], int]:
    done: set[int] = set()
    totals = {"cost_macs": 0.0, "wall_time_s": 0.0, "cost_inputs": 0.0}
    segments = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        if "path_step" in t.user_attrs:
            done.add(int(t.user_attrs["path_step"]))
            totals["cost_macs"] += float(t.user_attrs.get("search_cost_macs", 0))
            totals["wall_time_s"] += float(t.user_attrs.get("search_wall_time_s", 0))
            totals["cost_inputs"] += float(t.user_attrs.get("step_cost_inputs", 0))
            segments = max(segments, int(t.user_attrs.get("path_segment", 0)) + 1)
    return done, totals, segments


def _step_config(spec: StudySpec, lam: float, epochs: float, *, seed: int,
                 device: str | None) -> tuple[TrialPlan, TrainConfig]:
    """The plan and trainer options of ``epochs`` (fractional) at ``lam``."""
    plan = fixed_plan(spec, lam)
    data = load_study_data(spec)
    per_epoch = math.ceil(len(data.x_train) / spec.training.batch_size)
    config = replace(
        train_config(spec, plan, seed=seed, device=device),
        epochs=max(1, math.ceil(epochs)),
        max_steps=max(1, round(epochs * per_epoch)),
    )
    return plan, config


class _Run:
    """The path's live network, weight optimizer and dead rule (continued step to step)."""

    def __init__(self) -> None:
        self.model: ShrinkNet | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.rule: DeadRule | None = None
        self.trainer: Trainer | None = None

    def follow(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.model, self.optimizer, self.rule = trainer.model, trainer.optimizer, trainer.dead_rule


def run_lambda_path(
    study: optuna.Study,
    spec: StudySpec,
    *,
    device: str | None = None,
    on_epoch: EpochHook | None = None,
    checkpoints: Any | None = None,
    models: ModelKeeper | None = None,
    patience: Patience | None = None,
) -> None:
    """Train along the λ grid, storing each step as a finished trial (module docstring).

    Args:
        study: a study created for ``spec`` (kind ``lambda_path``).
        spec: its spec.
        device: overrides ``training.device``.
        on_epoch: called after every epoch; raising ``StopTraining`` stops the path (the
            steps finished so far stay stored) and raises ``TrialStopped``.
        checkpoints: an Optuna artifact store (``optuna.artifacts.FileSystemArtifactStore``,
            ``Boto3ArtifactStore`` …) for the path's checkpoints (resume).
        models: keeps each stored step's debiased network as artifacts of its trial
            (``studies.models``); None keeps nothing.
        patience: rides out a storage outage (``studies.writes``): a step's writes wait
            for the storage instead of ending the path (a retried checkpoint upload can
            leave one unreferenced checkpoint file). ``None``: every storage error raises.

    Raises:
        TrialStopped: ``on_epoch`` stopped the path.
        ConfigError: the spec is not of kind ``lambda_path``.
    """
    if spec.search.kind != "lambda_path":
        raise ConfigError(
            f"search.kind is {spec.search.kind!r}; run_lambda_path needs 'lambda_path'"
        )
    path = spec.search.path
    done, stored_totals, segment = _done_steps(study)
    if len(done) >= spec.search.trial_budget or study.user_attrs.get(_END_ATTR):
        return
    if _budget_spent(study, spec, len(done)):
        return
    hooks = [on_epoch] if on_epoch is not None else []
    call = patience.call if patience is not None else _now
    run = _Run()
    state = _restore(study, spec, checkpoints, run, device)
    if state is None:
        state, stopped = _warm_up(study, spec, run, hooks, device, segment)
        if stopped:
            _record_interrupted(study, state, "during its warm-up")
            raise TrialStopped(
                f"λ path of study {study.study_name!r} stopped during its warm-up; "
                f"{len(done)} step(s) are stored"
            )
        state.totals = {k: stored_totals[k] + state.totals[k] for k in state.totals}
    epochs = spec.search.path_epochs_per_step
    finetune = (
        path.finetune_epochs if path.finetune_epochs is not None
        else spec.training.finetune_epochs
    )
    for step in range(state.next_step, len(state.grid)):
        used = Spent(len(done), state.totals["cost_macs"], state.totals["wall_time_s"])
        if spec.search.compute_budget and exhausted(spec, used) is not None:
            _record_interrupted(study, state, "before a step: compute budget spent")
            study.set_user_attr(_END_ATTR, "compute budget spent")
            return
        lam = state.grid[step]
        plan, config = _step_config(
            spec, lam, epochs, seed=trial_seed(spec, step), device=device
        )
        start = list(run.model.alive_widths()) if run.model is not None else list(plan.widths)
        result = train_trial(
            spec, plan, config, hooks=hooks, model=run.model, optimizer=run.optimizer,
            dead_rule=run.rule, epoch_offset=state.epoch_offset, branch=True,
            finetune_epochs=finetune,
        )
        res = result.result
        state.totals["cost_macs"] += res.cost_macs
        state.totals["wall_time_s"] += res.wall_time_s
        state.totals["cost_inputs"] += res.cost_inputs
        state.pending["macs"] += res.cost_macs
        state.pending["wall"] += res.wall_time_s
        if result.stopped_by is not None:
            _record_interrupted(study, state, f"during step {step}")
            raise TrialStopped(
                f"λ path of study {study.study_name!r} stopped during step {step} "
                f"(λ={lam:.3g}); {len(done)} step(s) are stored"
            )
        run.follow(result.trainer)
        state.epoch_offset += len(result.trainer.history)
        state.next_step = step + 1
        if step not in done:  # a step trained again after a restart is charged to the next
            _store_step(study, spec, step, state, res, plan, result.history, start,
                        model=result.model, models=models, call=call)
            state.pending = {"macs": 0.0, "wall": 0.0}
            done.add(step)
        if checkpoints is not None:
            call(_save, study, checkpoints, run, state)
        if all(w <= 1 for w in run.model.alive_widths()):  # type: ignore[union-attr]
            call(study.set_user_attr, _END_ATTR, "collapsed: every layer is down to one neuron")
            return  # every later λ would give the same network
    call(study.set_user_attr, _END_ATTR, "end of the grid")


def _now(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``: a write without :class:`Patience`."""
    return fn(*args, **kwargs)


def _budget_spent(study: optuna.Study, spec: StudySpec, stored: int) -> bool:
    """True (and the path marked ended) when its compute budget is already spent."""
    if not spec.search.compute_budget:
        return False
    used = spent(study.get_trials(deepcopy=False))
    if exhausted(spec, Spent(stored, used.macs, used.seconds)) is None:
        return False
    study.set_user_attr(_END_ATTR, "compute budget spent")
    return True


def _record_interrupted(study: optuna.Study, state: PathState, where: str) -> None:
    """Charge compute that no stored step carries (a warm-up or step that was stopped, or
    steps trained again after a restart) as a FAIL trial without ``path_step``, so budgets
    and comparisons count it."""
    if state.pending["macs"] <= 0 and state.pending["wall"] <= 0:
        return
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.FAIL,
            user_attrs={
                "search_cost_macs": float(state.pending["macs"]),
                "search_wall_time_s": float(state.pending["wall"]),
                "path_interrupted": True,
                "failure_reason": f"λ path stopped {where}; its compute is charged here",
            },
        )
    )
    state.pending = {"macs": 0.0, "wall": 0.0}


def _warm_up(
    study: optuna.Study, spec: StudySpec, run: _Run, hooks: list[EpochHook],
    device: str | None, segment: int,
) -> tuple[PathState, bool]:
    """Build the full-width network, train it at λ = 0, and fix the grid.

    Returns:
        The path's state and whether a hook stopped the warm-up (then ``pending`` holds
        what it spent and the grid is not set).
    """

    data = load_study_data(spec)
    warm = spec.search.path.warmup_epochs
    warm = float(spec.training.epochs) if warm is None else warm
    seed = trial_seed(spec, 10_000 + segment)
    plan = fixed_plan(spec, 0.0)
    model = build_trial_model(spec, plan, data, seed=seed)
    state = PathState(next_step=0, grid=[], segment=segment)
    if warm > 0:
        plan, config = _step_config(spec, 0.0, warm, seed=seed, device=device)
        result = train_trial(
            spec, plan, config, hooks=hooks, model=model, branch=True,
            finetune_epochs=0,
        )
        res = result.result
        state.pending = {"macs": res.cost_macs, "wall": res.wall_time_s}
        if result.stopped_by is not None:
            return state, True
        run.follow(result.trainer)
        state.epoch_offset = len(result.trainer.history)
        state.totals = {"cost_macs": res.cost_macs, "wall_time_s": res.wall_time_s,
                        "cost_inputs": res.cost_inputs}
    else:
        run.model = model
    stored = study.user_attrs.get(_GRID_ATTR)
    if stored:
        state.grid = [float(x) for x in stored]
    else:
        assert run.model is not None
        state.grid = calibrated_grid(spec, run.model) if spec.search.path.calibrate \
            else lambda_grid(spec)
        study.set_user_attr(_GRID_ATTR, state.grid)
    done, _, _ = _done_steps(study)
    state.next_step = min((i for i in range(len(state.grid)) if i not in done), default=0)
    return state, False


def _store_step(
    study: optuna.Study,
    spec: StudySpec,
    step: int,
    state: PathState,
    result: Any,
    plan: TrialPlan,
    history: list[dict[str, Any]],
    start: list[int],
    *,
    model: ShrinkNet,
    models: ModelKeeper | None,
    call: Callable[..., Any],
) -> None:
    attrs = result_attrs(spec, result, plan)
    attrs.update(
        history=history,
        initial_widths=start,
        path_step=step,
        path_segment=state.segment,
        step_cost_inputs=float(result.cost_inputs),
        # this step's own cost plus what no stored step carries yet (the warm-up, …)
        search_cost_macs=float(state.pending["macs"]),
        search_wall_time_s=float(state.pending["wall"]),
        cost_macs=state.totals["cost_macs"],
        wall_time_s=state.totals["wall_time_s"],
        cost_inputs=state.totals["cost_inputs"],
    )
    values = [float(result.val_loss)]
    if spec.multi_objective:
        values.append(float(result.params))
    finite = all(math.isfinite(v) for v in values)
    lo, hi = min(state.grid), max(state.grid)
    links: dict[str, Any] = {}
    if models is not None and finite:
        attrs[MODEL_ATTR], links = models.files_for_new_trial(
            study, spec, load_study_data(spec), model, attrs, {"lam": state.grid[step]},
            values, label=f"step{step}",
        )
    trial = optuna.trial.create_trial(
        state=TrialState.COMPLETE if finite else TrialState.FAIL,
        values=values if finite else None,
        params={"lam": state.grid[step]},
        distributions={"lam": optuna.distributions.FloatDistribution(lo, hi, log=True)},
        user_attrs=attrs,
        system_attrs=links,
        intermediate_values={int(h["epoch"]): float(h["val_loss"]) for h in history},
    )
    call(study.add_trial, trial)
    if models is not None:
        call(models.prune, study)


def _save(
    study: optuna.Study, store: Any, run: _Run, state: PathState
) -> None:
    """Upload the path's state as an artifact of the study; drop the previous one."""
    assert run.trainer is not None
    buffer = io.BytesIO()
    torch.save(
        {"trainer": run.trainer.state_dict(), "path": state.__dict__,
         "spec": run.model.spec.to_dict() if run.model is not None else None},
        buffer,
    )
    previous = study.user_attrs.get(_CHECKPOINT_ATTR)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"lambda_path_step{state.next_step - 1}.pt"
        file.write_bytes(buffer.getvalue())
        artifact_id = optuna.artifacts.upload_artifact(
            artifact_store=store, file_path=str(file), study_or_trial=study,
            mimetype="application/octet-stream",
        )
    study.set_user_attr(
        _CHECKPOINT_ATTR, {"artifact_id": artifact_id, "next_step": state.next_step}
    )
    if previous:  # an old checkpoint that cannot be removed costs only disk
        with contextlib.suppress(Exception):
            store.remove(previous["artifact_id"])


def _restore(
    study: optuna.Study, spec: StudySpec, store: Any, run: _Run, device: str | None
) -> PathState | None:
    """Load the latest checkpoint into ``run``; ``None`` when there is none to use."""
    meta = study.user_attrs.get(_CHECKPOINT_ATTR)
    if store is None or not meta:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "checkpoint.pt"
        try:
            optuna.artifacts.download_artifact(
                artifact_store=store, file_path=str(file), artifact_id=meta["artifact_id"]
            )
        except Exception:
            return None
        saved = torch.load(file, map_location="cpu", weights_only=False)
    state = PathState(**saved["path"])
    plan, config = _step_config(spec, state.grid[0], 1.0, seed=0, device=device)
    data = load_study_data(spec)
    trainer = Trainer(build_trial_model(spec, plan, data, seed=0), data, config)
    trainer.load_state_dict(saved["trainer"])
    run.follow(trainer)
    return state
