"""Freezing settled switches, and the fused β step and dead-rule update of the hot loop."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
import torch
from _nets import N_CLASSES, N_FEATURES, data, net, toy_data

from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.removal.dead import VAR_THRESHOLD, SignVarianceRule
from shrinknets_core.training._optim import BetaProx
from shrinknets_core.training.trainer import TrainConfig, Trainer


def _spec(**kw: Any) -> ModelSpec:
    return ModelSpec(**{"kind": "mlp", "in_features": N_FEATURES, "out_features": N_CLASSES,
                        "hidden": (32, 32), **kw})


def _config(**kw: Any) -> TrainConfig:
    return TrainConfig(**{"epochs": 8, "batch_size": 32, "device": "cpu", "seed": 0,
                          "lam": 0.3, "lam_scale": "grad", "beta_lr": 0.05, "beta_max": 1.0,
                          "gamma": 0.9, "removal_every_steps": 5, **kw})


def _trainer(config: TrainConfig) -> Trainer:
    return Trainer(build_model(_spec(), seed=0), toy_data(), config)


# -- freezing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "mlp_bn", "cnn", "linear"])
def test_freezing_keeps_the_function_bit_for_bit(name: str) -> None:
    model = net(name, seed=3)
    x, _ = data(model)
    for sw in model.switches():
        sw.beta.data.mul_(0.7).add_(0.05)
    model.eval()
    before = model(x)
    for sw in model.switches():
        sw.freeze()
    assert torch.equal(model(x), before)
    model.train()
    assert torch.equal(model(x), copy.deepcopy(model)(x))


def test_a_frozen_switch_leaves_autograd_the_beta_step_and_the_dead_rule() -> None:
    trainer = _trainer(_config())
    first = trainer.model.switches()[0]
    first.freeze()
    trainer._refresh()
    beta, alive = first.beta.detach().clone(), first.alive.clone()
    trainer.fit()
    assert first.frozen and first.beta.grad is None and not first.beta.requires_grad
    assert torch.equal(first.beta, beta) and torch.equal(first.alive, alive)
    assert trainer.model.switches()[1].num_features < 32  # the other layer still shrank


def test_settled_layers_freeze_and_train_on_like_a_switch_frozen_by_hand() -> None:
    config = _config(freeze_after_steps=40)
    auto = _trainer(config)
    frozen_at: dict[int, int] = {}

    def note(trainer: Trainer, _: Any) -> None:
        for i, sw in enumerate(trainer.model.switches()):
            if sw.frozen and i not in frozen_at:
                frozen_at[i] = trainer.step

    auto.add_callback("on_batch_end", note)
    result = auto.fit()
    assert frozen_at, "the test needs a layer that settles"
    for i, step in frozen_at.items():  # quiet for 40 steps, checked at removal points
        assert step % 5 == 0 and step >= 40, (i, step)

    by_hand = _trainer(replace(config, freeze_after_steps=None))

    def freeze(trainer: Trainer, _: Any) -> None:
        switches = trainer.model.switches()
        due = [i for i, step in frozen_at.items()
               if step == trainer.step and not switches[i].frozen]
        for i in due:
            switches[i].freeze()
        if due:
            trainer._refresh()

    by_hand.add_callback("on_batch_end", freeze)
    again = by_hand.fit()
    assert [r.widths for r in again.history] == [r.widths for r in result.history]
    for a, b in zip(again.history, result.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5, abs=1e-6)


def test_a_checkpoint_with_frozen_switches_resumes_exactly() -> None:
    config = _config(freeze_after_steps=30, epochs=10)
    straight = _trainer(config).fit()
    first = _trainer(replace(config, epochs=6))
    first.fit()
    frozen = [sw.frozen for sw in first.model.switches()]
    assert any(frozen), "the test needs a frozen switch before the checkpoint"
    resumed = _trainer(config)
    resumed.load_state_dict(first.state_dict())
    assert [sw.frozen for sw in resumed.model.switches()] == frozen
    result = resumed.fit()
    assert [r.widths for r in result.history] == [r.widths for r in straight.history]
    for a, b in zip(result.history, straight.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-5)


def test_freeze_after_steps_is_validated() -> None:
    from shrinknets_core.errors import ConfigError

    with pytest.raises(ConfigError, match="freeze_after_steps"):
        TrainConfig(freeze_after_steps=0)
    with pytest.raises(ConfigError, match="dead_check_every"):
        TrainConfig(dead_check_every=0)


# -- the fused hot loop --------------------------------------------------------------------


def _reference_beta_step(prox: BetaProx) -> None:
    """One switch at a time: the β step as it was written before it was fused."""
    with torch.no_grad():
        for sw, price, pinned in zip(prox._switches, prox._prices, prox._pinned, strict=True):
            beta, grad = sw.beta, sw.beta.grad
            threshold: float | torch.Tensor = prox.lr * prox.lam * price
            if prox.lam_scale == "grad":
                live = sw.alive.sum().clamp(min=1)
                threshold = live.sqrt() * (prox.lr * prox.lam * price)
                if grad is not None:
                    rms = ((grad * grad * sw.alive).sum() / live).sqrt()
                    beta.addcdiv_(grad, rms.clamp(min=1e-12), value=-prox.lr)
            elif grad is not None:
                beta.add_(grad, alpha=-prox.lr)
            if prox.lam > 0.0:
                beta.copy_(torch.sign(beta) * torch.clamp(beta.abs() - threshold, min=0.0))
            if prox.beta_max is not None:
                beta.clamp_(-prox.beta_max, prox.beta_max)
            if pinned:
                top = (beta.abs() * sw.alive).max()
                beta.div_(torch.where(top > 0, top, torch.ones_like(top)))


@pytest.mark.parametrize("name", ["mlp", "mlp_bn", "cnn"])
@pytest.mark.parametrize(("lam_scale", "beta_max", "weight"),
                         [("none", None, "uniform"), ("grad", 1.0, "uniform"),
                          ("none", 0.8, "params"), ("grad", None, "macs")])
def test_the_fused_beta_step_equals_the_per_switch_step(
    name: str, lam_scale: str, beta_max: float | None, weight: str
) -> None:
    models = [net(name, seed=1), net(name, seed=1)]
    x, y = data(models[0], n=32)
    proxes = []
    for model in models:
        model.switches()[0].alive[::3] = False
        proxes.append(BetaProx(model, lr=0.3, lam=0.05, beta_max=beta_max,
                               lam_scale=lam_scale, penalty_weight=weight))
    for step in range(6):
        for model, prox in zip(models, proxes, strict=True):
            prox.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
        proxes[0].step()
        _reference_beta_step(proxes[1])
        for a, b in zip(models[0].switches(), models[1].switches(), strict=True):
            assert torch.equal(a.beta, b.beta), step


def test_the_fused_sign_variance_update_equals_the_per_switch_update() -> None:
    model = net("mlp", seed=2)
    rule = SignVarianceRule(gamma=0.7)
    rule.attach(model)
    means = [m.clone() for m in rule.means]
    vars_ = [v.clone() for v in rule.vars]
    g = torch.Generator().manual_seed(0)
    for step in range(12):
        with torch.no_grad():
            for sw in model.switches():
                sw.beta.copy_(torch.randn(sw.beta.shape, generator=g, dtype=sw.beta.dtype))
                sw.beta[::4] = 0.0  # parked at exactly zero: counted as a flip
        for sw, mean, var in zip(model.switches(), means, vars_, strict=True):
            beta = sw.beta.detach()
            s = torch.where(beta == 0, -torch.sign(mean), torch.sign(beta))
            var.mul_(0.7).add_((1.0 - 0.7) * (s - mean) ** 2)
            mean.mul_(0.7).add_((1.0 - 0.7) * s)
        rule.update(model, check=False)  # statistics only: nothing dies
        for a, b in zip(rule.means + rule.vars, means + vars_, strict=True):
            assert torch.equal(a, b), step
    assert all(bool(sw.alive.all()) for sw in model.switches())
    died = rule.update(model, check=True)
    expected = sum(int((v > VAR_THRESHOLD).sum()) for v in rule.vars)
    assert died == expected > 0


def test_the_kill_check_runs_every_dead_check_every_steps() -> None:
    every = _trainer(_config(epochs=3, gamma=0.0)).fit()
    sparse = _trainer(_config(epochs=3, gamma=0.0, dead_check_every=4)).fit()
    assert sparse.final_widths != [32, 32] and every.final_widths != [32, 32]
    checks: list[int] = []
    trainer = _trainer(_config(epochs=1, dead_check_every=4))
    original = trainer.dead_rule.update

    def spy(model: Any, *, check: bool = True) -> int:
        if check:
            checks.append(trainer.step)
        return original(model, check=check)

    trainer.dead_rule.update = spy  # type: ignore[method-assign]
    trainer.fit()
    assert checks and all(step % 4 == 0 for step in checks)
