"""The training loop: a ShrinkNet learns its widths while it trains, and shrinks as it goes.

One optimizer step, in order (the one documented place for every regulariser)::

    loss = data_loss(model(x), y)            # cross-entropy or MSE, no penalty
    loss.backward()
    add ∂Ω/∂θ to the gradients               # after backward, before step (Ω below)
    weight_optimizer.step()                  # Adam/SGD/AdamW/Adagrad on non-switch params
    beta_prox.step()                         # "prox": SGD on β, threshold beta_lr·λ, box
    dead_rule.update(model, check=...)       # statistics; kills every dead_check_every steps
    remove_dead(...) every removal_every_steps steps, or at the end of each epoch
    freeze settled switches                  # no death for freeze_after_steps steps

Frozen switches (``Switch.freeze``) are constants: out of autograd, the β step, the dead
rule and removal, so a settled layer costs what a static one does plus one multiply.
The hot loop syncs with the host only at checks and removals, never per step.

With ``beta_optimizer="prox"`` the gradient step holds only λ₂‖θ‖ₚᵖ (λ‖β‖₁ is applied
exactly by the proximal step); with ``"same"`` it holds all of Ω^rs and β is in the weight
optimizer. Ω^rs's gradient is added by hand with fused ops (:class:`ShrinkPenaltyGrad`);
``penalty="group"`` back-propagates Ω^gp = λ Σᵢ √#θᵢ ‖θᵢ‖₂ (plus λ₂‖θ‖ₚᵖ by hand, no β
penalty). The reported losses are data losses, without Ω.

Tabular data stays on the device: each epoch draws a permutation from a generator seeded
with ``(seed, epoch)`` and slices it into batches, so a run is reproducible (and resumable)
and no per-sample Python runs. Losses are accumulated as tensors: one device sync per epoch.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from shrinknets_core.errors import ConfigError, StopTraining
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.removal._remove import remove_dead
from shrinknets_core.removal.dead import DeadRule, make_dead_rule
from shrinknets_core.removal.importance import PruneOutcome, importance_scores, prune_to_params
from shrinknets_core.training._evaluate import check_data, data_loss, evaluate
from shrinknets_core.training._history import BatchEnd, EpochRecord, TrainResult
from shrinknets_core.training._optim import (
    BetaProx,
    ShrinkPenaltyGrad,
    build_main_optimizer,
    weight_parameters,
)
from shrinknets_core.training._resume import load_trainer_state, trainer_state
from shrinknets_core.training._train_config import TrainConfig
from shrinknets_core.training.penalties import group_penalty

if TYPE_CHECKING:
    from shrinknets_core.datasets import Dataset

__all__ = ["BatchEnd", "EpochRecord", "TrainConfig", "TrainResult", "Trainer", "resolve_device"]

Event = Literal["on_train_start", "on_batch_end", "on_removal", "on_epoch_end", "on_train_end"]
Callback = Callable[["Trainer", Any], None]
Split = Literal["train", "val", "test"]
EVENTS: tuple[str, ...] = (
    "on_train_start", "on_batch_end", "on_removal", "on_epoch_end", "on_train_end",
)
_IMPROVEMENT = 1e-4  # relative val-loss improvement that resets early-stopping patience


def resolve_device(name: str) -> torch.device:
    """Map ``TrainConfig.device`` to a torch device.

    ``"auto"`` picks CUDA when available, else CPU; ``"cuda"``/``"cuda:N"`` without CUDA
    falls back to CPU with a :class:`UserWarning` (so a study spec written for a GPU worker
    still runs on a laptop).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"device={name!r} was requested but CUDA is not available; training on CPU",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return torch.device(name)


class Trainer:
    """Train a :class:`ShrinkNet` on a :class:`Dataset` with live neuron removal.

    Args:
        model: the network; moved to the configured device. Removal replaces its layers.
        data: train/val/test splits (val must be non-empty: it drives the history).
        config: the options (:class:`TrainConfig`).
        optimizer: optional weight optimizer to use instead of the one named by
            ``config.optimizer``; it must hold the model's non-switch parameters (plus the
            switches' β when ``beta_optimizer="same"``).

    Raises:
        ConfigError: the data and model disagree (features, outputs, task) or val is empty.
    """

    def __init__(
        self,
        model: ShrinkNet,
        data: Dataset,
        config: TrainConfig,
        *,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.data = data
        check_data(model, data)
        self._classify = data.task == "classification"
        to = self._to_device
        self._train = (to(data.x_train), data.y_train.to(self.device))
        self._val = (to(data.x_val), data.y_val.to(self.device))
        self._test = (to(data.x_test), data.y_test.to(self.device))
        prox = config.beta_optimizer == "prox" and config.penalty != "none"
        self.beta_prox: BetaProx | None = None
        if prox and model.switches():
            lam = config.lam if config.penalty == "shrink" else 0.0
            self.beta_prox = BetaProx(
                self.model,
                lr=config.beta_lr,
                lam=lam,
                beta_max=config.beta_max,
                lam_scale=config.lam_scale,
                penalty_weight=config.penalty_weight,
                pin_scale=config.pin_bn_scale,
                layer_scales=config.lam_layer_scales,
            )
        params = weight_parameters(self.model) if self.beta_prox else self.model.parameters()
        self.optimizer = optimizer or build_main_optimizer(
            config.optimizer, params, lr=config.lr, momentum=config.momentum
        )
        self.penalty_grad: ShrinkPenaltyGrad | None = None
        if config.penalty != "none":
            lam_beta = config.lam if config.penalty == "shrink" and not self.beta_prox else 0.0
            self.penalty_grad = ShrinkPenaltyGrad(
                self.model, lam_beta=lam_beta, lam2=config.lam2, p=config.p
            )
        self.dead_rule: DeadRule = _make_rule(config)
        self.dead_rule.attach(self.model)
        self.scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        if config.lr_plateau_patience is not None:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, patience=config.lr_plateau_patience
            )
        self.history: list[EpochRecord] = []
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.best_val = float("inf")
        self.bad_epochs = 0
        self._callbacks: dict[str, list[Callback]] = {e: [] for e in EVENTS}
        self._stop_reason: str | None = None
        self._last_step: int | None = None
        self._macs = self.model.macs_per_sample()
        self._inputs = self.model.live_inputs()
        #: per switch: live width at the last removal point and the step it last changed
        self.settled_since: list[tuple[int, int]] = []

    # -- callbacks ---------------------------------------------------------------------

    def add_callback(self, event: Event, fn: Callback) -> None:
        """Call ``fn(trainer, payload)`` on ``event``; raising ``StopTraining`` ends training.

        Payloads: ``on_train_start`` the :class:`TrainConfig`; ``on_batch_end`` a
        :class:`BatchEnd`; ``on_removal`` the :class:`RemovalRecord`; ``on_epoch_end`` the
        :class:`EpochRecord`; ``on_train_end`` the :class:`TrainResult`.

        Raises:
            ConfigError: unknown event name.
        """
        if event not in self._callbacks:
            raise ConfigError(f"callback event {event!r} is unknown; use one of {EVENTS}")
        self._callbacks[event].append(fn)

    def remove_callback(self, event: Event, fn: Callback) -> None:
        """Stop calling ``fn`` on ``event`` (a no-op when it is not registered)."""
        if fn in self._callbacks.get(event, []):
            self._callbacks[event].remove(fn)

    def _fire(self, event: str, payload: Any) -> None:
        """Run the event's callbacks; a ``StopTraining`` is recorded, ending training cleanly."""
        for fn in self._callbacks[event]:
            try:
                fn(self, payload)
            except StopTraining as stop:
                self._stop_reason = self._stop_reason or f"StopTraining in {event}: {stop}"

    # -- training ----------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train for the remaining epochs and evaluate the final network.

        Returns:
            The :class:`TrainResult` (also passed to ``on_train_end`` callbacks).
        """
        start = time.perf_counter()
        if self.epoch == 0:
            torch.manual_seed(self.config.seed)
        self.model.train()
        self._stop_reason = None
        self._fire("on_train_start", self.config)
        first_step = self.step
        self._last_step = (
            first_step + self.config.max_steps if self.config.max_steps is not None else None
        )
        while self._stop_reason is None and self.epoch < self.config.epochs:
            if self._last_step is not None and self.step >= self._last_step:
                break
            record = self._run_epoch(self.epoch + 1)
            self._fire("on_epoch_end", record)
            self._end_of_epoch(record)
        if self.config.removal:
            self._remove()  # neurons that died since the last removal leave the final net
        result = self._result(time.perf_counter() - start, self._stop_reason)
        self._fire("on_train_end", result)  # a StopTraining here changes nothing: it is over
        return result

    def _run_epoch(self, epoch: int) -> EpochRecord:
        """Train one epoch (or until a callback stops training) and record it."""
        t0 = time.perf_counter()
        x, y = self._train
        n, bs = x.shape[0], self.config.batch_size
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.config.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        macs = samples = removed = 0
        inputs = 0.0
        lr = float(self.optimizer.param_groups[0]["lr"])
        for begin in range(0, n, bs):
            idx = order[begin : begin + bs]
            size = int(idx.shape[0])
            loss = self._step(x[idx], y[idx])
            loss_sum += loss * size
            macs += 3 * self._macs * size  # cost at the width this step ran at
            inputs += self._inputs * size
            samples += size
            every = self.config.removal_every_steps
            if self.config.removal and every is not None and self.step % every == 0:
                removed += self._remove()
            self._fire("on_batch_end", BatchEnd(epoch, self.step, loss, size))
            if self._stop_reason is not None or self.step == self._last_step:
                break
        if self.config.removal and self.config.removal_every_steps is None:
            removed += self._remove()
        val_loss, val_acc = self.evaluate("val")
        self.epoch = epoch
        record = EpochRecord(
            epoch=epoch,
            widths=self.model.alive_widths(),
            params=self._live_params(),
            macs_per_sample=self.model.macs_per_sample(),
            train_loss=float(loss_sum) / max(samples, 1),
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=lr,
            wall_time_s=time.perf_counter() - t0,
            cost_macs=macs,
            live_inputs=inputs / max(samples, 1),
            samples=samples,
            removed=removed,
        )
        self.history.append(record)
        return record

    def _step(self, xb: Tensor, yb: Tensor) -> Tensor:
        """One optimizer step on a batch; returns the detached data loss."""
        loss = data_loss(self.model(xb), yb, classify=self._classify)
        self.optimizer.zero_grad(set_to_none=True)
        if self.beta_prox is not None:
            self.beta_prox.zero_grad()
        loss.backward()
        self._regularise()  # the one regularisation point: after backward, before step
        self.optimizer.step()
        if self.beta_prox is not None:
            self.beta_prox.step()
        self.step += 1
        self.dead_rule.update(self.model, check=self.step % self.config.dead_check_every == 0)
        return loss.detach()

    def _regularise(self) -> None:
        """Add the penalty's gradient to ``.grad`` (see the module docstring)."""
        if self.penalty_grad is not None:
            self.penalty_grad.add_grad()
        if self.config.penalty == "group" and self.config.lam > 0:
            group_penalty(self.model, lam=self.config.lam).backward()

    def prune_to(self, target_params: int, importance: str, *, batches: int = 4
                 ) -> PruneOutcome:
        """Prune by importance now: mark the least important neurons dead until the network
        has at most ``target_params`` parameters (:mod:`shrinknets_core.removal.importance`)
        and remove them at once, through the same removal as the dead rules (optimizer and
        dead-rule state sliced, the removal logged, ``on_removal`` fired).

        Args:
            target_params: the size to reach.
            importance: ``"taylor"`` (scored on ``batches`` training batches of a seeded
                draw) or ``"l2"``.
            batches: batches of ``batch_size`` rows for the Taylor score.

        Returns:
            What was pruned, with the scoring's MACs and seconds (add them to the run's
            cost: they are not in :attr:`history`).
        """
        t0 = time.perf_counter()
        x, y = self._train
        rows = min(x.shape[0], batches * self.config.batch_size)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.config.seed * 1_000_003 + 999_983 + self.step)
        order = torch.randperm(x.shape[0], generator=gen, device=self.device)[:rows]
        bs = self.config.batch_size
        data = [(x[order[i:i + bs]], y[order[i:i + bs]]) for i in range(0, rows, bs)]
        macs = 3 * self._macs * rows if importance == "taylor" else 0

        def loss_fn(out: Tensor, target: Tensor) -> Tensor:
            return data_loss(out, target, classify=self._classify)

        scores = importance_scores(self.model, importance, batches=data, loss_fn=loss_fn)
        outcome = prune_to_params(self.model, scores, target_params)
        if outcome.killed:
            self._remove()
        return replace(outcome, cost_macs=float(macs), wall_time_s=time.perf_counter() - t0)

    def _remove(self) -> int:
        """Physically remove dead neurons; returns how many went (0 = nothing to do)."""
        before = sum(self.model.widths())
        record = remove_dead(self.model, self.optimizer, rule=self.dead_rule, step=self.step)
        if record is not None:
            self._refresh()
            self._fire("on_removal", record)
        self._freeze_settled()
        return before - sum(self.model.widths())

    def _freeze_settled(self) -> None:
        """Freeze every switch whose layer lost no neuron for ``freeze_after_steps`` steps.

        Run at removal points, right after the removal: a layer is eligible only with every
        neuron alive (none dead waiting to be removed). One host sync for all switches.
        """
        after = self.config.freeze_after_steps
        if after is None:
            return
        switches = self.model.switches()
        live = [sw.alive.sum() for sw in switches]
        counts = torch.stack(live).tolist() if live else []
        if len(self.settled_since) != len(switches):
            self.settled_since = [(int(c), self.step) for c in counts]
        frozen = False
        for i, (sw, count) in enumerate(zip(switches, counts, strict=True)):
            width, since = self.settled_since[i]
            if int(count) != width:
                self.settled_since[i] = (int(count), self.step)
            elif not sw.frozen and count == sw.num_features and self.step - since >= after:
                sw.freeze()
                frozen = True
        if frozen:
            self._refresh()

    def _refresh(self) -> None:
        """After the model's parameters were replaced: re-read them, recompute the costs."""
        for part in (self.beta_prox, self.penalty_grad):
            if part is not None:
                part.refresh()
        self._macs = self.model.macs_per_sample()
        self._inputs = self.model.live_inputs()

    def _end_of_epoch(self, record: EpochRecord) -> None:
        """LR schedule and early stopping (which sets the stop reason)."""
        if self.scheduler is not None:
            self.scheduler.step(record.val_loss)
        patience = self.config.early_stopping_patience
        if record.val_loss < self.best_val * (1 - _IMPROVEMENT):
            self.best_val, self.bad_epochs = record.val_loss, 0
        else:
            self.bad_epochs += 1
        if not (math.isfinite(record.train_loss) and math.isfinite(record.val_loss)):
            self._stop_reason = self._stop_reason or (
                f"training diverged at epoch {record.epoch} (train_loss={record.train_loss}, "
                f"val_loss={record.val_loss}); lower lr or beta_lr"
            )
        if patience is not None and self.bad_epochs >= patience and self._stop_reason is None:
            self._stop_reason = f"early stopping: no val-loss improvement in {patience} epoch(s)"

    # -- evaluation and results --------------------------------------------------------

    def evaluate(
        self, split: Split = "val", model: ShrinkNet | None = None
    ) -> tuple[float, float | None]:
        """Data loss and accuracy (None for regression) of a network on a split.

        Runs under ``torch.no_grad`` in eval mode, in chunks of 8,192 rows.

        Args:
            split: ``train``, ``val`` or ``test``.
            model: the network to evaluate (default: the one being trained), e.g. a copy
                kept from an earlier epoch; it must be on the trainer's device.

        Raises:
            ConfigError: the split is empty.
        """
        x, y = {"train": self._train, "val": self._val, "test": self._test}[split]
        if x.shape[0] == 0:
            raise ConfigError(f"cannot evaluate on split {split!r}: it has no rows")
        return evaluate(model or self.model, x, y, classify=self._classify)

    @property
    def has_test(self) -> bool:
        """True when the dataset has test rows."""
        return bool(self._test[0].shape[0] > 0)

    def _live_params(self) -> int:
        """Parameter count of the network once its dead neurons are removed."""
        if self.model.alive_widths() == self.model.widths():
            return self.model.param_count()
        shrunk = copy.deepcopy(self.model)
        remove_dead(shrunk)
        return shrunk.param_count()

    def _result(self, wall: float, reason: str | None) -> TrainResult:
        val_loss, val_acc = self.evaluate("val")
        test_loss: float | None = None
        test_acc: float | None = None
        if self.has_test:
            test_loss, test_acc = self.evaluate("test")
        return TrainResult(
            history=list(self.history),
            final_widths=self.model.alive_widths(),
            params=self._live_params(),
            val_loss=val_loss,
            val_accuracy=val_acc,
            test_loss=test_loss,
            test_accuracy=test_acc,
            cost_macs=sum(r.cost_macs for r in self.history),
            cost_inputs=sum(r.live_inputs for r in self.history),
            wall_time_s=wall,
            stopped_early=reason is not None,
            stop_reason=reason,
            removals=[r.to_dict() for r in self.model.removal_log],
        )

    def _to_device(self, x: Tensor) -> Tensor:
        x = x.to(self.device, dtype=torch.float32)
        if self.model.spec.kind == "cnn" and self.data.image_shape is not None:
            return x.reshape(x.shape[0], *self.data.image_shape)
        return x

    # -- checkpointing -----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: model, removal log, optimizer, dead rule, counters."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output into a trainer built on a fresh model.

        Removals in the saved log are replayed first so the shrunk widths match, then the
        optimizer is pointed at the sliced parameters and its saved state loaded; ``fit``
        then continues from the saved epoch exactly as the uninterrupted run would.

        Raises:
            ConfigError: the model already has removals that differ from the saved log.
        """
        load_trainer_state(self, state)
        self._refresh()


def _make_rule(config: TrainConfig) -> DeadRule:
    if config.dead_rule == "sign_variance":
        return make_dead_rule(
            "sign_variance", gamma=config.gamma, keep_last=config.keep_last_alive,
            mean_start=config.sign_mean_start,
        )
    if config.dead_rule == "magnitude":
        return make_dead_rule("magnitude", eps=config.eps, keep_last=config.keep_last_alive)
    return make_dead_rule("none")
