"""Dead-neuron rules: the exact sign-variance dynamics, magnitude, none, state handling.

The sign-variance update (docs/method.md §4) with ``mean₀ = 1`` and a permanent flip to
``s = −1`` gives ``meanₜ = 2γᵗ − 1`` and ``varₜ = 4γᵗ⁻¹(1 − γᵗ)``. With γ = 0.99,
``varₜ > 0.5`` ⇔ ``γᵗ < 0.8553`` ⇔ ``t > 15.55``: the neuron dies at the 16th step
after the flip ("about 15 steps later").
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network.switches import Switch
from shrinknets_core.removal.dead import (
    MagnitudeRule,
    NoRule,
    SignVarianceRule,
    enforce_dead,
    make_dead_rule,
)


def _gate(betas: list[float]) -> nn.Sequential:
    sw = Switch(len(betas))
    with torch.no_grad():
        sw.beta.copy_(torch.tensor(betas))
    return nn.Sequential(sw)


def _sw(model: nn.Sequential) -> Switch:
    sw = model[0]
    assert isinstance(sw, Switch)
    return sw


def _set(model: nn.Sequential, betas: list[float]) -> None:
    sw = _sw(model)
    with torch.no_grad():
        sw.beta.copy_(torch.where(sw.alive, torch.tensor(betas), sw.beta))


def _death_step(gamma: float, signs: list[float]) -> int | None:
    """1-based step at which a single neuron starting at β=+1 dies under ``signs``."""
    model = _gate([1.0])
    rule = SignVarianceRule(gamma=gamma)
    rule.attach(model)
    for t, s in enumerate(signs, start=1):
        _set(model, [s * 0.3])
        if rule.update(model):
            return t
    return None


def test_gamma_zero_kills_at_first_flip() -> None:
    assert _death_step(0.0, [1, 1, 1, -1, -1]) == 4
    assert _death_step(0.0, [1.0] * 20) is None


def test_gamma_09_kills_after_three_alternating_signs() -> None:
    # var: 0.4 → 0.364 → 0.6588 (> 0.5)
    assert _death_step(0.9, [-1, 1, -1, 1]) == 3
    assert _death_step(0.9, [-1, 1]) is None


def test_gamma_099_permanent_flip_kills_16_steps_later() -> None:
    assert _death_step(0.99, [1.0] * 5 + [-1.0] * 30) == 5 + 16
    gamma = 0.99
    assert 4 * gamma**14 * (1 - gamma**15) < 0.5 < 4 * gamma**15 * (1 - gamma**16)


def test_exact_update_matches_formula() -> None:
    model = _gate([1.0, -1.0])
    rule = SignVarianceRule(gamma=0.9)
    rule.attach(model)
    mean, var = torch.tensor([1.0, -1.0]), torch.zeros(2)
    for signs in ([1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]):
        _set(model, signs)
        rule.update(model)
        s = torch.tensor(signs)
        var = 0.9 * var + 0.1 * (s - mean) ** 2
        mean = 0.9 * mean + 0.1 * s
        assert _sw(model).alive.all()
        assert torch.allclose(rule.means[0], mean) and torch.allclose(rule.vars[0], var)


def test_dead_never_revives_and_beta_is_held_at_zero() -> None:
    model = _gate([1.0, 1.0])
    rule = SignVarianceRule(gamma=0.0)
    rule.attach(model)
    _set(model, [-1.0, 1.0])
    assert rule.update(model) == 1
    sw = _sw(model)
    assert sw.alive.tolist() == [False, True] and sw.beta[0] == 0
    for _ in range(5):  # an optimizer keeps pushing β away from 0
        with torch.no_grad():
            sw.beta.add_(0.7)
        sw.beta.grad = torch.ones(2)
        assert rule.update(model) == 0
        assert not sw.alive[0] and sw.beta[0] == 0 and sw.beta.grad[0] == 0


def test_beta_parked_at_zero_counts_as_a_flip() -> None:
    assert _death_step(0.0, [0.0]) == 1  # prox-zeroed β dies at once with γ = 0
    assert _death_step(0.99, [1.0] * 3 + [0.0] * 30) == 3 + 16  # like a permanent flip
    assert _death_step(0.99, [1.0] * 3 + [0.0] * 3 + [1.0] * 60) is None  # revived in time


def test_magnitude_rule() -> None:
    model = _gate([0.5, 1e-4, -2e-3, 0.0])
    assert MagnitudeRule(eps=1e-3).update(model) == 2
    assert _sw(model).alive.tolist() == [True, False, True, False]
    with pytest.raises(ConfigError, match="eps=-1"):
        MagnitudeRule(eps=-1)


def test_no_rule_never_kills_but_holds_dead_at_zero() -> None:
    model = _gate([0.0, 1.0])
    _sw(model).alive[1] = False
    assert NoRule().update(model) == 0
    assert _sw(model).alive.tolist() == [True, False] and _sw(model).beta[1] == 0


def test_state_dict_round_trip_and_keep_neurons() -> None:
    model = _gate([1.0, -1.0, 1.0])
    rule = SignVarianceRule(gamma=0.5)
    rule.attach(model)
    _set(model, [-1.0, -1.0, 1.0])
    rule.update(model)
    other = SignVarianceRule()
    other.load_state_dict(rule.state_dict())
    assert other.gamma == 0.5 and torch.equal(other.vars[0], rule.vars[0])
    rule.keep_neurons(0, torch.tensor([1, 2]))
    assert torch.equal(rule.vars[0], other.vars[0][1:]) and rule.means[0].shape == (2,)


def test_make_dead_rule() -> None:
    assert isinstance(make_dead_rule("sign_variance", gamma=0.5, eps=1.0), SignVarianceRule)
    assert make_dead_rule("magnitude", eps=0.1).eps == 0.1  # type: ignore[attr-defined]
    assert isinstance(make_dead_rule("none"), NoRule)
    with pytest.raises(ConfigError, match="'sign'"):
        make_dead_rule("sign")
    with pytest.raises(ConfigError, match=r"gamma=1\.0"):
        make_dead_rule("sign_variance", gamma=1.0)


def test_update_needs_attach() -> None:
    with pytest.raises(ConfigError, match="attach"):
        SignVarianceRule().update(_gate([1.0]))


def test_enforce_dead_only_touches_dead() -> None:
    model = _gate([2.0, 3.0])
    _sw(model).alive[0] = False
    enforce_dead(model)
    assert _sw(model).beta.tolist() == [0.0, 3.0]


def test_positive_mean_start_counts_a_negative_start_as_a_flip() -> None:
    """β₀ = −0.3 held negative: from sign(β₀) it never changes sign; from +1 the variance
    gets (−1 − 1)²·(1 − γ) = 0.4 at once and dies at the 2nd step (0.36 + 0.1·1.8² = 0.684)."""
    deaths = {}
    for start in ("sign", "positive"):
        model = _gate([-0.3, 0.3])
        rule = SignVarianceRule(gamma=0.9, mean_start=start)  # type: ignore[arg-type]
        rule.attach(model)
        deaths[start] = [rule.update(model) for _ in range(5)]
    assert deaths["sign"] == [0, 0, 0, 0, 0]
    assert deaths["positive"] == [0, 1, 0, 0, 0]


def test_mean_start_is_checked_saved_and_passed_by_the_trainer_config() -> None:
    with pytest.raises(ConfigError, match=r"mean_start='zero'.*'sign', 'positive'"):
        SignVarianceRule(mean_start="zero")  # type: ignore[arg-type]
    rule = make_dead_rule("sign_variance", gamma=0.5, mean_start="positive")
    assert isinstance(rule, SignVarianceRule) and rule.mean_start == "positive"
    rule.attach(_gate([-1.0]))
    assert rule.means[0].tolist() == [1.0]
    other = SignVarianceRule()
    other.load_state_dict(rule.state_dict())
    assert other.mean_start == "positive"
    state = rule.state_dict()
    del state["mean_start"]  # a state saved before the option existed
    other.load_state_dict(state)
    assert other.mean_start == "sign"
