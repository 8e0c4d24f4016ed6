"""The proximal β step: bounded at a large β learning rate, scale-free per layer, λ controls
size gradually, and no layer collapses to width 0 — on digits and tiny seeded data."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

import pytest
import torch

from shrinknets_core.datasets import Dataset, load_dataset
from shrinknets_core.errors import ConfigError
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training._optim import BetaProx
from shrinknets_core.training.trainer import TrainConfig, Trainer, TrainResult


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Tiny tensors: one intra-op thread is faster and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


def _trainer(data: Dataset, config: TrainConfig, *, width: int = 64) -> Trainer:
    spec = ModelSpec(kind="mlp", in_features=data.n_features, out_features=data.n_outputs,
                     hidden=(width, width), switch_init="uniform")
    return Trainer(build_model(spec, seed=0), data, config)


def _fit(data: Dataset, config: TrainConfig, *, width: int = 64) -> tuple[TrainResult, Trainer]:
    trainer = _trainer(data, config, width=width)
    return trainer.fit(), trainer


def _max_beta(trainer: Trainer) -> float:
    return max(float(sw.beta.detach().abs().max()) for sw in trainer.model.switches())


GRAD_STEP = TrainConfig(lam_scale="grad", beta_max=1.0, beta_lr=0.05, gamma=0.9,
                        removal_every_steps=2, device="cpu")


@pytest.mark.parametrize("lam_scale", ["none", "grad"])
def test_box_keeps_beta_bounded_at_a_huge_beta_lr(
    digits: Dataset, lam_scale: Literal["none", "grad"]
) -> None:
    config = TrainConfig(epochs=4, lam=1e-4, beta_lr=100.0, beta_max=1.0, lam_scale=lam_scale,
                         device="cpu")
    seen: list[float] = []
    trainer = _trainer(digits, config)
    trainer.add_callback("on_batch_end", lambda t, _: seen.append(_max_beta(t)))
    result = trainer.fit()
    assert len(seen) == trainer.step and max(seen) <= 1.0
    assert all(math.isfinite(r.train_loss) for r in result.history)
    assert not result.stopped_early
    assert result.val_accuracy is not None and result.val_accuracy > 0.3  # chance: 0.1


def test_without_the_box_the_same_step_lets_beta_grow(digits: Dataset) -> None:
    """The box is what bounds β: the plain step at beta_lr=100 leaves |β| far above 1."""
    _, trainer = _fit(digits, TrainConfig(epochs=2, lam=1e-4, beta_lr=100.0, device="cpu"))
    assert _max_beta(trainer) > 2.0


def test_grad_step_is_invariant_to_the_loss_scale() -> None:
    """lam_scale="grad": scaling the loss by 1000 gives the same β update (λ is relative)."""
    spec = ModelSpec(kind="mlp", in_features=5, out_features=2, hidden=(6, 4),
                     switch_init="uniform")
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(1))
    betas = []
    for scale in (1.0, 1000.0):
        model = build_model(spec, seed=3)
        prox = BetaProx(model, lr=0.1, lam=0.5, lam_scale="grad")
        (scale * model(x).square().mean()).backward()
        prox.step()
        betas.append(torch.cat([sw.beta.detach().clone() for sw in model.switches()]))
    assert torch.allclose(betas[0], betas[1], atol=1e-6)
    assert not torch.equal(betas[0], torch.cat([sw.beta for sw in build_model(spec, seed=3)
                                                .switches()]).detach())


def test_lambda_controls_size_gradually(digits: Dataset) -> None:
    """Over λ = 1/32…1/2 the final widths fall monotonically through ≥ 3 distinct sizes > 1."""
    lams = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
    widths = []
    for lam in lams:
        result, _ = _fit(digits, replace(GRAD_STEP, epochs=4, lam=lam))
        widths.append(tuple(result.final_widths))
    for bigger_lam, smaller_lam in zip(widths[1:], widths[:-1], strict=True):
        assert all(b <= s for b, s in zip(bigger_lam, smaller_lam, strict=True)), widths
    distinct = {w for w in widths if min(w) > 1}
    assert len(distinct) >= 3, widths
    assert widths[0] != (64, 64) and min(widths[-1]) >= 1, widths


def test_no_layer_collapses_to_width_zero(digits: Dataset) -> None:
    """A λ that kills everything leaves the strongest neuron of each layer alive (width 1)."""
    config = replace(GRAD_STEP, epochs=2, lam=5.0)
    result, trainer = _fit(digits, config, width=16)
    assert result.final_widths == [1, 1]
    assert trainer.model.widths() == [1, 1]
    assert all(r.widths[0] >= 1 and r.widths[1] >= 1 for r in result.history)
    old, _ = _fit(digits, replace(config, keep_last_alive=False), width=16)
    assert old.final_widths == [0, 0]  # the old rule: all dead, reported as width 0


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("beta_max", 0.0, r"TrainConfig\.beta_max=0\.0 must be a number in \(0\.0"),
        ("beta_max", float("inf"), r"TrainConfig\.beta_max=inf"),
        ("lam_scale", "width", r"TrainConfig\.lam_scale='width' is not allowed"),
        ("keep_last_alive", 1, r"TrainConfig\.keep_last_alive=1 must be True or False"),
    ],
)
def test_new_options_are_validated(field: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_defaults_keep_the_old_step() -> None:
    config = TrainConfig()
    assert (config.beta_max, config.lam_scale) == (None, "none")
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_layer_scales_spread_lambda_over_the_layers() -> None:
    """With ``lam_layer_scales`` (r, 1/r) the first layer's threshold is λ·r per step and
    the second's λ/r; without them both are λ."""
    model = build_model(ModelSpec(kind="mlp", in_features=4, out_features=2, hidden=(5, 5)))
    betas = [sw.beta for sw in model.switches()]
    with torch.no_grad():
        for beta in betas:
            beta.fill_(0.9)
    prox = BetaProx(model, lr=0.5, lam=0.2, layer_scales=(2.0, 0.5))  # thresholds 0.2, 0.05
    prox.step()
    assert torch.allclose(betas[0].detach(), torch.full((5,), 0.7))
    assert torch.allclose(betas[1].detach(), torch.full((5,), 0.85))
    with pytest.raises(ConfigError, match="one per layer"):
        BetaProx(model, lr=0.5, lam=0.2, layer_scales=(2.0,))
    with pytest.raises(ConfigError, match="lam_layer_scales"):
        TrainConfig(lam_layer_scales=(1.0, 0.0))
    config = TrainConfig(lam_layer_scales=[2.0, 0.5])  # type: ignore[arg-type]
    assert config.lam_layer_scales == (2.0, 0.5)
    assert TrainConfig.from_dict(config.to_dict()) == config
