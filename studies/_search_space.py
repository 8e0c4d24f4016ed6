"""What each study kind samples, and how a sample becomes a model and a training config.

Search spaces (parameter names as they appear in Optuna and the ``optuna`` CLI):

* λ kinds (``lambda``, ``target_size``): ``lam`` ~ log-uniform [lam_min, lam_max]; with
  ``search_gamma`` also ``one_minus_gamma`` ~ log-uniform [1e-4, 0.5] (γ = 1 − value, so
  the sampler resolves the interesting region near 1); with ``search_lr`` also ``lr`` ~
  log-uniform [lr/10, lr·10] around the spec's lr (clipped to [1e-6, 1]).
  Every layer starts at ``max_width``; training uses the proximal β step, the sign-variance
  dead rule and live removal, with ``|β| ≤ 1``. ``training.lam_scale`` picks the step:
  ``none`` (the paper's objective, threshold ``beta_lr·λ``) or ``grad``
  (``shrinknets_core.training._optim``): λ is then the share of its layer's
  gradient norm a neuron must carry to survive (a layer settles near 1/λ² neurons), so it
  acts from the first steps and sizes move gradually with λ (measured against the plain
  step: docs/method.md §8, "β step").
* ``width``: ``width_1`` … ``width_depth``, integers log-uniform on [1, max_width]; the
  network is static (no switches, no dead rule, no removal) and trains with the same
  trainer, epochs, optimizer, lr and λ₂ (λ = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import optuna

from studies.spec import StudySpec

if TYPE_CHECKING:  # both load torch; :func:`suggest` does not need them
    from shrinknets_core.network.models import ModelSpec
    from shrinknets_core.training.trainer import TrainConfig

__all__ = ["TrialPlan", "lam_distribution", "model_spec", "suggest", "train_config"]

GAMMA_RANGE = (1e-4, 0.5)
BETA_MAX = 1.0  # λ trials: |β| ≤ 1 (Prop. A.3: the scale moves into the weights)


@dataclass(frozen=True)
class TrialPlan:
    """One trial's sampled settings.

    Attributes:
        widths: the hidden widths the network is built with.
        switches: True for λ kinds (a ShrinkNet), False for width search (static net).
        lam: λ (0 for width search).
        gamma: the sign-variance aggressiveness.
        lr: the weight learning rate.
    """

    widths: tuple[int, ...]
    switches: bool
    lam: float
    gamma: float
    lr: float


def lam_distribution(spec: StudySpec) -> optuna.distributions.FloatDistribution:
    """The distribution of the ``lam`` parameter (log scale over :attr:`StudySpec.lam_range`)."""
    lo, hi = spec.lam_range
    return optuna.distributions.FloatDistribution(lo, hi, log=True)


def suggest(trial: optuna.Trial, spec: StudySpec) -> TrialPlan:
    """Sample the trial's parameters for the spec's kind (see module docstring).

    ``lambda_path`` trials are not sampled (the path fixes λ); calling this for that kind
    samples like ``lambda``.
    """
    arch, training, search = spec.architecture, spec.training, spec.search
    if search.kind == "width":
        widths = tuple(
            trial.suggest_int(f"width_{i + 1}", 1, arch.max_width, log=True)
            for i in range(arch.depth)
        )
        return TrialPlan(widths, False, 0.0, training.gamma, training.lr)
    dist = lam_distribution(spec)
    lam = trial.suggest_float("lam", dist.low, dist.high, log=True)
    gamma = training.gamma
    if search.search_gamma:
        gamma = 1.0 - trial.suggest_float("one_minus_gamma", *GAMMA_RANGE, log=True)
    lr = training.lr
    if search.search_lr:
        lr = trial.suggest_float(
            "lr", max(training.lr / 10, 1e-6), min(training.lr * 10, 1.0), log=True
        )
    return TrialPlan((arch.max_width,) * arch.depth, True, lam, gamma, lr)


def fixed_plan(spec: StudySpec, lam: float) -> TrialPlan:
    """The plan of a λ-path step: max width, the spec's γ and lr, the given λ."""
    arch = spec.architecture
    return TrialPlan(
        (arch.max_width,) * arch.depth, True, lam, spec.training.gamma, spec.training.lr
    )


def model_spec(
    spec: StudySpec,
    plan: TrialPlan,
    *,
    n_features: int,
    n_outputs: int,
    image_shape: tuple[int, int, int] | None,
) -> ModelSpec:
    """The network of a trial, for a dataset of the given shape."""
    from shrinknets_core.network.models import ModelSpec

    arch = spec.architecture
    return ModelSpec(
        kind=arch.kind,
        in_features=n_features,
        out_features=n_outputs,
        hidden=plan.widths,
        image_shape=image_shape if arch.kind == "cnn" else None,
        activation=arch.activation,
        batchnorm=arch.batchnorm,
        dropout=arch.dropout,
        switches=plan.switches,
        switch_init=arch.switch_init,
    )


def train_config(
    spec: StudySpec, plan: TrialPlan, *, seed: int, device: str | None = None
) -> TrainConfig:
    """The trainer options of a trial: identical for both searches except λ and removal."""
    from shrinknets_core.training.trainer import TrainConfig

    t = spec.training
    base = TrainConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        lr=plan.lr,
        lam=plan.lam,
        lam2=t.lam2,
        beta_lr=t.beta_lr,
        beta_optimizer=t.beta_optimizer,
        lam_scale=t.lam_scale,
        penalty_weight=t.penalty_weight,
        beta_max=BETA_MAX,
        gamma=plan.gamma,
        removal_every_steps=t.removal_every_steps,
        device=device or t.device,
        seed=seed,
    )
    if plan.switches:
        return base
    epochs = t.epochs + t.finetune_epochs  # λ trials fine-tune for finetune_epochs more
    return replace(
        base, epochs=epochs, lam=0.0, dead_rule="none", removal=False, penalty_weight="uniform"
    )
