"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from shrinknets_core.errors import ConfigError
from shrinknets_core.training.metrics import accuracy, mse, normalise_losses, sparsity


def test_sparsity_counts_columns_whose_weights_are_all_below_tol() -> None:
    # (out=2, in=4): column 0 all tiny, column 1 has one large entry, column 2 exactly
    # at tol (not below), column 3 zero.
    weight = torch.tensor([[1e-4, 0.0, 1e-3, 0.0], [-5e-4, 0.5, 0.0, 0.0]])
    assert sparsity(weight) == pytest.approx(2 / 4)
    assert sparsity(weight, tol=1.0) == pytest.approx(1.0)
    assert sparsity(weight, tol=1e-5) == pytest.approx(1 / 4)  # only the all-zero column


def test_sparsity_uses_input_channels_of_conv_weights() -> None:
    weight = torch.ones(3, 5, 3, 3)
    weight[:, [1, 4]] = 0.0
    assert sparsity(weight) == pytest.approx(2 / 5)


def test_sparsity_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="tol=0"):
        sparsity(torch.ones(2, 2), tol=0)
    with pytest.raises(ConfigError, match="no input columns"):
        sparsity(torch.tensor(1.0))


def test_normalise_losses_min_max() -> None:
    assert normalise_losses([2.0, 4.0, 3.0]) == pytest.approx([0.0, 1.0, 0.5])
    assert normalise_losses([0.7, 0.7]) == [0.0, 0.0]
    assert normalise_losses([]) == []
    assert normalise_losses([5.0]) == [0.0]


def test_normalise_losses_rejects_nan() -> None:
    with pytest.raises(ConfigError, match=r"values\[1\]=nan"):
        normalise_losses([1.0, math.nan])


def test_accuracy_hand_computed() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 0, 0])
    assert accuracy(logits, y) == pytest.approx(3 / 4)
    with pytest.raises(ConfigError, match="logits"):
        accuracy(logits, y[:3])


def test_mse_hand_computed() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[0.0, 2.0], [3.0, 6.0]])
    assert mse(pred, y) == pytest.approx((1 + 0 + 0 + 4) / 4)
    assert mse(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 3.0])) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="equal shapes"):
        mse(pred, y[:, :1])
