"""The shared spec of an equal-compute comparison and the λ arms' variants."""

from __future__ import annotations

import pytest

from studies.equal_budget import equal_budget_spec, full_training_macs, variant_spec
from studies.objectives import load_study_data


def test_every_arm_gets_budget_full_width_trainings() -> None:
    spec = equal_budget_spec("digits", 3, epochs=4, budget=2.5, max_width=32)
    data = load_study_data(spec)
    assert spec.name == "bench-digits-3" and spec.search.seed == 3
    assert spec.search.n_trials is None and spec.training.finetune_epochs == 2
    full = full_training_macs(spec, data)
    # the static 32×32 MLP on digits: 64·32 + 32·32 + 32·10 MACs per sample, 3× for
    # forward and backward, every training row, 4 + 2 epochs
    per_sample = 64 * 32 + 32 * 32 + 32 * 10
    assert full == pytest.approx(3 * per_sample * len(data.x_train) * 6)
    assert spec.search.max_macs == pytest.approx(2.5 * full)


def test_a_variant_changes_only_the_lambda_arms_settings() -> None:
    spec = equal_budget_spec("digits", 0, epochs=3, budget=1.0, max_width=16)
    same = variant_spec(spec, None)
    assert same == spec
    other = variant_spec(spec, "none/params:gamma=0.9,removal_every_steps=10,epochs_per_step=3",
                         {"warmup_epochs": 2})
    training = other.training
    assert (training.lam_scale, training.penalty_weight) == ("none", "params")
    assert training.gamma == 0.9 and training.removal_every_steps == 10
    assert other.search.path.epochs_per_step == 3 and other.search.path.warmup_epochs == 2
    # everything else is the shared spec's
    assert other.dataset == spec.dataset and other.architecture == spec.architecture
    assert other.search.max_macs == spec.search.max_macs
    assert (training.epochs, training.lr, training.lam2) == (
        spec.training.epochs, spec.training.lr, spec.training.lam2)
