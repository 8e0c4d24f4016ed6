"""The ``lambda_path`` kind: one network trained while λ is raised step by step.

As glmnet and LassoNet compute their regularisation paths, the path costs little more
than one training, because every step continues from the last:

1. **Warm-up**: the ``max_width`` ShrinkNet trains at λ = 0 for ``search.path.warmup_epochs``
   (default ``training.epochs``; fractional allowed).
2. **Grid**: ``n_trials`` λ values, geometric, increasing (networks only shrink). With
   ``path.calibrate`` (the default) the top is taken from the data at the warm-up's end:
   for the plain proximal step (``training.lam_scale="none"``) the bottom is
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
   of an epoch's batches); only λ changes. The grid ends at its last λ or when every
   layer is down to one live neuron; the compute budget can end the path sooner.
4. **Snapshots**: after each step a copy is debiased by ``path.finetune_epochs`` at λ = 0
   (dead neurons stay gone; the cost is counted in the step) and stored as a finished trial
   (``study.add_trial``) with parameter ``lam``, its history (epochs numbered along the
   path), ``path_step``, ``initial_widths`` and costs:

   * ``search_cost_macs`` / ``search_wall_time_s``: what this step added to the search
     (its λ phase, its fine-tune and, for the first step, the warm-up);
   * ``cost_macs`` / ``wall_time_s`` / ``cost_inputs``: cumulative along the path.

5. **After the grid** (``studies._path_refine``): with a compute budget, once the grid
   has ended, the budget left continues the fine-tunes of the snapshots no equally trained
   snapshot dominates, cheapest first, each continuation stored as a finished trial
   (``path_snapshot``, ``path_round``), then runs shifted passes over the grid from the
   warm-up's end (``path_pass``) whose snapshots are refined the same way
   (``path.refine = "none"`` ends the path at its grid).

**The prune path** (kind ``prune_path``, the rival a pruning practitioner would pick) runs
this very schedule — the same warm-up, steps, snapshots, refinement, passes, costs and
resume — at λ = 0: its grid is ``n_trials`` parameter targets, geometric from the
warm-up's network down to one neuron per layer (:func:`size_grid`), and each step first
prunes the path's network by importance to its target (``path.importance``;
``Trainer.prune_to``, ``shrinknets_core.removal.importance``: the least important neurons
across all layers, removed with their optimizer state like dead ones), charging the
scoring's compute, then trains ``epochs_per_step``. Its trials carry ``target_params``
instead of ``lam``.

Every trial keeps the network of its best validation epoch at its final widths
(``studies._selection``), as every other arm's trials do.

Resume: with a ``checkpoints`` store (an Optuna artifact store: the service's workers pass
one), the path's state after every stored trial — network, removal log, optimizer, dead
rule, the path's position, the warm-up's end and the live snapshots' trainers
(``studies._checkpoints``) — is uploaded as an artifact of the study, and a path run again
continues from the latest checkpoint exactly as the uninterrupted path would. Without a
checkpoint it restarts from a fresh network (warm-up included) at the first missing λ and
adds that compute (``path_segment`` counts restarts); after a checkpoint older than the
stored steps, those steps are trained through (the path needs them) but not stored twice.

Every MAC is charged once: a stored step carries its own cost plus anything not yet
charged (the warm-up, steps trained again); compute of a warm-up or step that was stopped
(cancellation, SIGTERM) is stored as a FAIL trial without ``path_step``
(``path_interrupted``). Why the path ended — end of the grid, collapse, compute budget —
is the study's ``path_end`` user attribute (``path_grid_end``: why its grid ended, when it
went on refining); a path that ended is not run again. A path whose refinement was
stopped resumes it only from a checkpoint (its snapshots' trainers are in it); without
one it ends there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import optuna

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.network.pricing import neuron_prices
from shrinknets_core.removal.importance import params_at_widths
from shrinknets_core.training.penalties import prox_lambda_max
from studies._checkpoints import load_checkpoint, trainer_from_state
from studies._path_refine import (
    budget_spent,
    pass_count,
    restore_snapshots,
)
from studies._path_steps import (
    CHECKPOINT_ATTR,
    PathRun,
    PathState,
    PathWriter,
    record_interrupted,
    start_pass,
    stored_trials,
)
from studies._search_space import fixed_plan
from studies._trial import TrialStopped, trial_seed
from studies.budget import spent
from studies.models import ModelKeeper
from studies.objectives import (
    WARM_UP_SEED,
    EpochHook,
    build_trial_model,
    fixed_config,
    load_study_data,
    train_warm_up,
)
from studies.spec import PATH_KINDS, StudySpec
from studies.writes import Patience

__all__ = ["PathState", "calibrated_grid", "lambda_grid", "run_lambda_path", "size_grid"]

T = TypeVar("T")

_CALIBRATION_ROWS = 2048
_END_ATTR = "path_end"
_GRID_ATTR = "path_grid"
_GRID_END_ATTR = "path_grid_end"


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


def size_grid(spec: StudySpec, model: ShrinkNet) -> list[float]:
    """A prune path's targets: ``n_trials`` parameter counts, geometric and decreasing from
    ``model``'s live size (not included: the warm-up is that network) to one neuron per
    layer (the last target)."""
    full = params_at_widths(model, model.alive_widths())
    smallest = params_at_widths(model, [1] * len(model.alive_widths()))
    n = spec.search.trial_budget
    if full <= smallest:
        return [float(smallest)] * n
    return [float(round(full * (smallest / full) ** (i / n))) for i in range(1, n)] + [
        float(smallest)]


def calibrated_grid(spec: StudySpec, model: ShrinkNet) -> list[float]:
    """The grid taken from the data and the β step (module docstring), for a trained model."""
    n = spec.search.trial_budget
    if spec.training.lam_scale == "grad":
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
    """Train along the path's grid (λ values, or a prune path's size targets), storing each
    step as a finished trial, then spend the compute budget left on the path's front
    (module docstring).

    Args:
        study: a study created for ``spec`` (kind ``lambda_path`` or ``prune_path``).
        spec: its spec.
        device: overrides ``training.device``.
        on_epoch: called after every epoch; raising ``StopTraining`` stops the path (the
            trials finished so far stay stored) and raises ``TrialStopped``.
        checkpoints: an Optuna artifact store (``optuna.artifacts.FileSystemArtifactStore``,
            ``Boto3ArtifactStore`` …) for the path's checkpoints (resume).
        models: keeps each stored trial's network as artifacts of its trial
            (``studies.models``); None keeps nothing.
        patience: rides out a storage outage (``studies.writes``): a step's writes wait
            for the storage instead of ending the path (a retried checkpoint upload can
            leave one unreferenced checkpoint file). ``None``: every storage error raises.

    Raises:
        TrialStopped: ``on_epoch`` stopped the path.
        ConfigError: the spec's kind is not a path's (``studies.spec.PATH_KINDS``).
    """
    if spec.search.kind not in PATH_KINDS:
        raise ConfigError(
            f"search.kind is {spec.search.kind!r}; run_lambda_path needs one of {PATH_KINDS}"
        )
    if study.user_attrs.get(_END_ATTR):
        return
    stored = stored_trials(study)
    grid_done = len(stored.grid_done) >= spec.search.trial_budget
    if _budget_spent(study, spec):
        return
    hooks = [on_epoch] if on_epoch is not None else []
    call = patience.call if patience is not None else _now
    run = PathRun()
    state = _restore(study, spec, checkpoints, run, device)
    if state is None and grid_done and not spec.path_refines:
        call(study.set_user_attr, _END_ATTR, "end of the grid")
        return
    if state is None and (grid_done or stored.refined or any(p for p, _ in stored.steps)):
        # past its grid a path needs its snapshots' trainers: only a checkpoint has them
        call(study.set_user_attr, _END_ATTR, "stopped after its grid: no checkpoint to go on from")
        return
    if state is None:
        state, stopped = _warm_up(study, spec, run, hooks, device, stored.segments)
        if stopped:
            record_interrupted(study, state, "during its warm-up")
            raise TrialStopped(
                f"{spec.search.kind} of study {study.study_name!r} stopped during its warm-up; "
                f"{len(stored.steps)} step(s) are stored"
            )
        state.totals = {k: stored.totals[k] + state.totals[k] for k in state.totals}
    step_io = PathWriter(study, spec, run, state, hooks, call, checkpoints, models, stored)
    while True:
        if state.grid_end is None:
            ended = step_io.grid(device)
            if ended is not None:
                call(study.set_user_attr, _END_ATTR, ended)
                return
        assert state.grid_end is not None
        if not spec.path_refines:
            call(study.set_user_attr, _END_ATTR, state.grid_end)
            return
        if state.pass_index == 0:
            call(study.set_user_attr, _GRID_END_ATTR, state.grid_end)
        ended = step_io.refine()
        if ended is not None:
            call(study.set_user_attr, _END_ATTR, ended)
            return
        if state.pass_index >= pass_count(spec) or run.warm is None:
            call(study.set_user_attr, _END_ATTR,
                 "refined: no snapshot on the front improves any more and no pass is left")
            return
        state.pass_index += 1
        state.next_step, state.grid_end = 0, None
        start_pass(spec, run, device)


def _now(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``: a write without :class:`Patience`."""
    return fn(*args, **kwargs)


def _budget_spent(study: optuna.Study, spec: StudySpec) -> bool:
    """True (and the path marked ended) when its compute budget is already spent."""
    if not spec.search.compute_budget:
        return False
    used = spent(study.get_trials(deepcopy=False))
    if budget_spent(spec, {"cost_macs": used.macs, "wall_time_s": used.seconds}) is None:
        return False
    study.set_user_attr(_END_ATTR, "compute budget spent")
    return True


def _warm_up(
    study: optuna.Study, spec: StudySpec, run: PathRun, hooks: list[EpochHook],
    device: str | None, segment: int,
) -> tuple[PathState, bool]:
    """Build the full-width network, train it at λ = 0, and fix the grid.

    Returns:
        The path's state and whether a hook stopped the warm-up (then ``pending`` holds
        what it spent and the grid is not set).
    """

    warm = spec.search.path.warmup_epochs
    warm = float(spec.training.epochs) if warm is None else warm
    seed = trial_seed(spec, WARM_UP_SEED + segment)
    state = PathState(next_step=0, grid=[], segment=segment)
    if warm > 0:
        result = train_warm_up(spec, warm, seed=seed, hooks=hooks, device=device)
        res = result.result
        state.pending = {"macs": res.cost_macs, "wall": res.wall_time_s}
        if result.stopped_by is not None:
            return state, True
        run.follow(result.trainer)
        if spec.path_refines and pass_count(spec):
            run.keep_warm()
        state.epoch_offset = len(result.trainer.history)
        state.totals = {"cost_macs": res.cost_macs, "wall_time_s": res.wall_time_s,
                        "cost_inputs": res.cost_inputs}
    else:
        run.model = build_trial_model(spec, fixed_plan(spec, 0.0), load_study_data(spec),
                                      seed=seed)
    grid = study.user_attrs.get(_GRID_ATTR)
    if grid:
        state.grid = [float(x) for x in grid]
    else:
        assert run.model is not None
        if spec.search.kind == "prune_path":
            state.grid = size_grid(spec, run.model)
        elif spec.search.path.calibrate:
            state.grid = calibrated_grid(spec, run.model)
        else:
            state.grid = lambda_grid(spec)
        study.set_user_attr(_GRID_ATTR, state.grid)
    done = stored_trials(study).grid_done
    state.next_step = min((i for i in range(len(state.grid)) if i not in done), default=0)
    return state, False


def _restore(
    study: optuna.Study, spec: StudySpec, store: Any, run: PathRun, device: str | None
) -> PathState | None:
    """Load the latest checkpoint into ``run``; ``None`` when there is none to use."""
    saved = load_checkpoint(study, store, attr=CHECKPOINT_ATTR)
    if saved is None:
        return None
    state = PathState(**saved["path"])
    lam = 0.0 if spec.search.kind == "prune_path" else state.grid[0]
    _, config = fixed_config(spec, lam, 1.0, seed=0, device=device)
    run.follow(trainer_from_state(spec, saved["trainer"], device, config))
    run.warm = saved.get("warm")
    run.snapshots = restore_snapshots(spec, saved.get("snapshots", []), device)
    return state
