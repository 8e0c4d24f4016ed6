"""Trainer: determinism, λ controls size, removal ≡ masking (cheaper), callbacks, stopping,
history JSON, early stopping, resumable state, devices — on tiny seeded data."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
import torch
from _nets import N_CLASSES, N_FEATURES, toy_data

from shrinknets_core.datasets import Dataset
from shrinknets_core.errors import ConfigError, StopTraining
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training._optim import ShrinkPenaltyGrad
from shrinknets_core.training.penalties import shrink_penalty
from shrinknets_core.training.trainer import EpochRecord, TrainConfig, Trainer, TrainResult


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Tiny tensors: one intra-op thread is faster and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _toy(task: str = "classification", n: int = 600, seed: int = 0) -> Dataset:
    return toy_data(task, n=n, seed=seed)


def _spec(**kw: Any) -> ModelSpec:
    args: dict[str, Any] = {"kind": "mlp", "in_features": N_FEATURES,
                            "out_features": N_CLASSES, "hidden": (32, 32)}
    return ModelSpec(**{**args, **kw})


def _cfg(**kw: Any) -> TrainConfig:
    args: dict[str, Any] = {"epochs": 6, "batch_size": 32, "device": "cpu", "seed": 0}
    return TrainConfig(**{**args, **kw})


def _fit(config: TrainConfig, data: Dataset | None = None, **spec: Any) -> TrainResult:
    return Trainer(build_model(_spec(**spec), seed=0), data or _toy(), config).fit()


def _numbers(result: TrainResult) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.to_dict().items() if k != "wall_time_s"} for r in result.history]


# -- determinism, λ, removal -------------------------------------------------------------


def test_same_config_gives_identical_history() -> None:
    config = _cfg(lam=1.5e-2, epochs=8)
    first, second = _fit(config), _fit(config)
    assert _numbers(first) == _numbers(second)
    assert first.final_widths == second.final_widths
    assert first.val_loss == second.val_loss
    assert _numbers(first) != _numbers(_fit(replace(config, seed=1)))


def test_larger_lambda_gives_smaller_network() -> None:
    sizes = [_fit(_cfg(lam=lam, epochs=20)).final_widths for lam in (3e-3, 1e-2, 1.5e-2)]
    totals = [sum(w) for w in sizes]
    assert totals[0] > totals[1] > totals[2] > 0, sizes
    assert totals[2] < 64 // 2  # the largest λ removed more than half of the 2×32 neurons


def test_proximal_step_gives_exact_zeros_that_die() -> None:
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), _cfg(lam=1.5e-2, epochs=20,
                                                                  removal=False))
    result = trainer.fit()
    for sw in trainer.model.switches():
        assert torch.equal(sw.beta[~sw.alive], torch.zeros(int((~sw.alive).sum())))
    assert sum(result.final_widths) < 64
    assert trainer.model.widths() == [32, 32]  # masking only: nothing physically removed


@pytest.mark.parametrize("every", [None, 7])
def test_removal_trains_like_masking_but_costs_less(every: int | None) -> None:
    config = _cfg(lam=1.5e-2, epochs=16, removal_every_steps=every)
    masked = _fit(replace(config, removal=False))
    live = _fit(config)
    assert live.removals, "the test needs at least one removal"
    assert [r.widths for r in live.history] == [r.widths for r in masked.history]
    for a, b in zip(live.history, masked.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-5)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-4, abs=1e-5)
    assert live.cost_macs < masked.cost_macs
    assert live.cost_inputs < masked.cost_inputs
    assert live.params == masked.params  # masked result counts its live network's params


def test_cost_accounting_without_removal() -> None:
    config = _cfg(epochs=3, lam=0.0)
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), config)
    result = trainer.fit()
    macs = trainer.model.macs_per_sample()
    n = trainer.data.x_train.shape[0]
    assert macs == 20 * 32 + 32 * 32 + 32 * 3
    assert result.cost_macs == 3 * n * 3 * macs
    assert [r.live_inputs for r in result.history] == [20 + 32 + 32] * 3
    assert result.cost_inputs == 3 * 84


@pytest.mark.parametrize("p", [1, 2])
def test_penalty_gradient_matches_autograd_of_shrink_penalty(p: int) -> None:
    model = build_model(_spec(switch_init="normal"), seed=0)
    by_hand = ShrinkPenaltyGrad(model, lam_beta=0.03, lam2=0.02, p=p)
    by_hand.add_grad()
    expected = [torch.zeros_like(q) if q.grad is None else q.grad.clone()
                for q in model.parameters()]
    model.zero_grad(set_to_none=True)
    shrink_penalty(model, lam=0.03, lam2=0.02, p=p).backward()  # type: ignore[arg-type]
    for param, want in zip(model.parameters(), expected, strict=True):
        got = param.grad if param.grad is not None else torch.zeros_like(param)
        assert torch.allclose(got, want, atol=1e-7)


def test_beta_in_main_optimizer_and_group_penalty_run() -> None:
    same = _fit(_cfg(lam=1e-2, beta_optimizer="same"))
    group = _fit(_cfg(lam=1e-3, penalty="group", dead_rule="magnitude"))
    for result in (same, group):
        assert math.isfinite(result.val_loss)
        assert result.val_accuracy is not None and result.val_accuracy > 0.5


# -- callbacks and stopping --------------------------------------------------------------


def test_callbacks_fire_in_order() -> None:
    events: list[str] = []
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), _cfg(lam=1.5e-2, epochs=16))
    for name in ("on_train_start", "on_batch_end", "on_removal", "on_epoch_end",
                 "on_train_end"):
        trainer.add_callback(name, lambda _t, _p, name=name: events.append(name))  # type: ignore[misc]
    result = trainer.fit()
    steps_per_epoch = math.ceil(420 / 32)
    assert events[0] == "on_train_start" and events[-1] == "on_train_end"
    assert events.count("on_epoch_end") == 16
    assert events.count("on_batch_end") == 16 * steps_per_epoch
    assert events.count("on_removal") == len(result.removals) > 0
    first_epoch = events.index("on_epoch_end")
    assert events[1:first_epoch] == ["on_batch_end"] * steps_per_epoch
    removal = events.index("on_removal")  # per-epoch removal: after the epoch's batches
    assert events[removal - 1] == "on_batch_end" and events[removal + 1] == "on_epoch_end"
    with pytest.raises(ConfigError, match="on_step"):
        trainer.add_callback("on_step", lambda _t, _p: None)  # type: ignore[arg-type]


def test_stop_training_in_batch_callback_ends_cleanly() -> None:
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), _cfg(epochs=5))

    def stop_at_three(_: Trainer, batch: Any) -> None:
        if batch.step == 3:
            raise StopTraining("cancelled")

    trainer.add_callback("on_batch_end", stop_at_three)
    result = trainer.fit()
    assert result.stopped_early and "cancelled" in (result.stop_reason or "")
    assert len(result.history) == 1 and result.history[0].samples == 3 * 32
    assert trainer.step == 3 and math.isfinite(result.val_loss)


def test_stop_training_in_epoch_callback() -> None:
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), _cfg(epochs=5))

    def stop_at_two(_: Trainer, record: EpochRecord) -> None:
        if record.epoch == 2:
            raise StopTraining

    trainer.add_callback("on_epoch_end", stop_at_two)
    result = trainer.fit()
    assert result.stopped_early and len(result.history) == 2


def test_early_stopping_on_flat_validation_loss() -> None:
    config = _cfg(epochs=20, lr=1e-9, beta_lr=1e-9, early_stopping_patience=2)
    result = _fit(config)
    assert result.stopped_early and "early stopping" in (result.stop_reason or "")
    assert len(result.history) == 3  # epoch 1 sets the best, 2 and 3 do not improve
    assert not _fit(replace(config, early_stopping_patience=None, epochs=4)).stopped_early


def test_divergence_stops_training_with_a_reason() -> None:
    result = _fit(_cfg(epochs=5, optimizer="sgd", lr=1e6))
    assert result.stopped_early and "diverged" in (result.stop_reason or "")
    assert len(result.history) < 5


def test_lr_plateau_lowers_the_learning_rate() -> None:
    result = _fit(_cfg(epochs=5, lr=1e-6, beta_lr=1e-9, lr_plateau_patience=1))
    assert result.history[0].lr == pytest.approx(1e-6)
    assert result.history[-1].lr == pytest.approx(1e-7)  # ×0.1 once patience ran out


# -- records, regression, images ---------------------------------------------------------


def test_history_and_result_are_json_serialisable() -> None:
    result = _fit(_cfg(lam=1.5e-2, epochs=8, removal_every_steps=5))
    text = json.dumps(result.to_dict())
    back = json.loads(text)
    assert back["history"][0]["epoch"] == 1
    assert EpochRecord.from_dict(back["history"][-1]) == result.history[-1]
    assert back["final_widths"] == result.final_widths
    assert result.history[-1].params == result.params


def test_regression_uses_mse_and_has_no_accuracy() -> None:
    data = _toy("regression")
    result = _fit(_cfg(epochs=10, lr=1e-2), data)
    assert result.val_accuracy is None and result.test_accuracy is None
    assert result.history[-1].val_accuracy is None
    assert result.val_loss < 0.5 * result.history[0].val_loss
    linear = Trainer(build_model(ModelSpec(kind="linear", in_features=N_FEATURES,
                                           out_features=N_CLASSES), seed=0),
                     data, _cfg(epochs=20, lam=0.05, lr=1e-2)).fit()
    assert linear.final_widths[0] < N_FEATURES  # useless inputs switched off


def test_cnn_on_image_data() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 64, generator=g)
    y = (x[:, :32].sum(1) > x[:, 32:].sum(1)).long()
    data = Dataset(name="img", label="img", task="classification", x_train=x[:140],
                   y_train=y[:140], x_val=x[140:170], y_val=y[140:170], x_test=x[170:],
                   y_test=y[170:], n_features=64, n_outputs=2, image_shape=(1, 8, 8),
                   stand_in_for=None, source="test")
    spec = ModelSpec(kind="cnn", in_features=64, out_features=2, hidden=(4, 4), dense=(8,),
                     image_shape=(1, 8, 8))
    trainer = Trainer(build_model(spec, seed=0), data, _cfg(epochs=3, lam=0.05))
    assert trainer._train[0].shape == (140, 1, 8, 8)
    result = trainer.fit()
    assert result.val_accuracy is not None and math.isfinite(result.val_loss)


def test_data_that_does_not_fit_the_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="in_features=7"):
        Trainer(build_model(_spec(in_features=7), seed=0), _toy(), _cfg())


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("epochs", 0, "epochs=0"), ("optimizer", "rmsprop", "optimizer='rmsprop'"),
     ("lr", -1.0, "lr=-1.0"), ("gamma", 1.0, r"gamma=1.0 .*\[0.0, 1.0\)"),
     ("device", "tpu", "device='tpu'"), ("removal_every_steps", 0, "removal_every_steps=0"),
     ("p", 3, "p=3")],
)
def test_config_rejects_bad_values(field: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{field: value})


def test_config_round_trip() -> None:
    config = _cfg(lam=0.1, removal_every_steps=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="lambda"):
        TrainConfig.from_dict({"lambda": 1.0})


# -- resumable state -----------------------------------------------------------------------


def test_state_dict_resumes_training_exactly() -> None:
    config = _cfg(lam=1.5e-2, epochs=14)
    straight = _fit(config)
    first = Trainer(build_model(_spec(), seed=0), _toy(), replace(config, epochs=10))
    first.fit()
    assert first.model.removal_log, "the test needs a removal before the checkpoint"
    state = first.state_dict()
    resumed = Trainer(build_model(_spec(), seed=0), _toy(), config)
    resumed.load_state_dict(state)
    assert resumed.model.widths() == first.model.widths()
    result = resumed.fit()
    assert [r.widths for r in result.history] == [r.widths for r in straight.history]
    for a, b in zip(result.history, straight.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-5)


# -- devices -------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_falls_back_to_cpu_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="CUDA is not available"):
        trainer = Trainer(build_model(_spec(), seed=0), _toy(), _cfg(device="cuda", epochs=1))
    assert trainer.device.type == "cpu"
    assert math.isfinite(trainer.fit().val_loss)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_and_removes_on_cuda() -> None:
    config = _cfg(lam=1.5e-2, epochs=16, device="cuda", removal_every_steps=7)
    trainer = Trainer(build_model(_spec(), seed=0), _toy(), config)
    result = trainer.fit()
    assert trainer.device.type == "cuda"
    assert next(trainer.model.parameters()).is_cuda
    assert result.removals and sum(result.final_widths) < 64
    assert trainer.model.widths() == result.final_widths
    again = _fit(config)  # seeded on the GPU too (cuBLAS may differ in the last bits)
    assert [r.widths for r in again.history] == [r.widths for r in result.history]
    assert again.val_loss == pytest.approx(result.val_loss, rel=1e-4)


def test_train_demo_reports_widths_params_and_cost() -> None:
    from shrinknets_core._demo import train_demo

    report = train_demo("digits", epochs=2, hidden=(16, 16), device="cpu")
    assert "digits" in report and "learned widths [" in report
    assert "MACs" in report and "Σ live inputs" in report
    assert len([line for line in report.splitlines() if line.strip().startswith("2 ")]) == 1
