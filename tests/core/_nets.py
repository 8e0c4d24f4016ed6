"""Small seeded networks and data shared by the core tests (float64 for exact comparisons)."""

from __future__ import annotations

import torch
from torch import Tensor

from shrinknets_core.datasets import Dataset
from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.removal.dead import enforce_dead

torch.set_num_threads(1)

N_FEATURES, N_CLASSES = 20, 3

SPECS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(kind="mlp", in_features=6, out_features=3, hidden=(8, 7)),
    "mlp_bn": ModelSpec(kind="mlp", in_features=6, out_features=3, hidden=(8, 7), batchnorm=True,
                        activation="tanh", switch_init="uniform"),
    "cnn": ModelSpec(kind="cnn", in_features=64, out_features=4, hidden=(4, 5), dense=(6,),
                     image_shape=(1, 8, 8), batchnorm=True, switch_init="normal"),
    "linear": ModelSpec(kind="linear", in_features=9, out_features=3, switch_init="uniform"),
}


def net(name: str, seed: int = 0) -> ShrinkNet:
    """A float64 model of ``SPECS[name]``."""
    return build_model(SPECS[name], seed=seed).double()


def data(model: ShrinkNet, n: int = 16, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random inputs and regression targets for ``model`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, model.spec.in_features, generator=g, dtype=torch.float64)
    y = torch.randn(n, model.spec.out_features, generator=g, dtype=torch.float64)
    return x, y


def kill(model: ShrinkNet, pattern: int = 3) -> None:
    """Mark every ``pattern``-th neuron (from 1) of every switch dead, β := 0."""
    for sw in model.switches():
        sw.alive[1::pattern] = False
    enforce_dead(model)


def warm_up_bn(model: ShrinkNet, x: Tensor) -> None:
    """Give BatchNorm non-trivial running statistics."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)


def toy_data(task: str = "classification", n: int = 600, seed: int = 0) -> Dataset:
    """Seeded toy data: 4 of 20 features matter (argmax / linear targets)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    w = torch.zeros(N_FEATURES, N_CLASSES)
    w[:4] = 2 * torch.randn(4, N_CLASSES, generator=g)
    y = (x @ w).argmax(1) if task == "classification" else x @ w / 4
    a, b = int(n * 0.7), int(n * 0.85)
    return Dataset(
        name="toy", label="toy", task=task,  # type: ignore[arg-type]
        x_train=x[:a], y_train=y[:a], x_val=x[a:b], y_val=y[a:b], x_test=x[b:], y_test=y[b:],
        n_features=N_FEATURES, n_outputs=N_CLASSES, image_shape=None, stand_in_for=None,
        source="test",
    )
