"""Fold a trained ShrinkNet into a plain network for inference.

The switches disappear: with ``g = β·alive`` the gate of a group,

- Switch after a producer without norm: ``g·(W x + b) = (diag(g) W) x + g·b`` — scale
  the producer's rows and bias;
- Switch after BatchNorm: ``g·BN(h) = (g·γ)(h − μ)/σ + g·b`` — scale the norm's affine
  (exact in eval mode, where BN uses its running statistics);
- InputSwitch: ``A·diag(g)·x[:, index]`` — scale ``A``'s columns and keep a column
  selection in front.

Dead neurons are first removed physically (on a copy), so the result is as small as
the live network.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.network.switches import InputSwitch, Switch
from shrinknets_core.removal._remove import remove_dead

__all__ = ["SelectColumns", "flat_to_image", "fold", "frozen", "live_copy"]


class SelectColumns(nn.Module):
    """Keeps input columns ``index`` (int64 buffer) of ``(N, F)`` inputs (TorchScript-able)."""

    if TYPE_CHECKING:  # buffer type for mypy; TorchScript cannot read string annotations
        index: Tensor

    def __init__(self, index: Tensor):
        super().__init__()
        self.register_buffer("index", index.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x.index_select(1, self.index)


def fold(model: ShrinkNet) -> nn.Sequential:
    """A plain ``nn.Sequential`` (eval mode) computing ``model``'s eval-mode outputs.

    ``model`` itself is left untouched. For CNNs the first module reshapes flat
    ``(N, C·H·W)`` inputs to images, as :class:`ShrinkNet` does.

    Returns:
        The folded network; it accepts the same inputs as ``model``.
    """
    net, modules = live_copy(model)
    layers = list(net.layers)
    with torch.no_grad():
        for i, m in enumerate(layers):
            if isinstance(m, InputSwitch):
                consumer = layers[i + 1]
                assert isinstance(consumer, nn.Linear)
                consumer.weight.mul_(m.gate().view(1, -1))
                if m.num_features != m.in_features:
                    modules.append(SelectColumns(m.index))
                continue
            if isinstance(m, Switch):
                _fold_into(layers[i - 1], m.gate())
                continue
            modules.append(m)
    return frozen(modules)


def live_copy(model: ShrinkNet) -> tuple[ShrinkNet, list[nn.Module]]:
    """A copy of ``model`` with its dead neurons removed (``model`` is untouched), and the
    modules a plain network of it starts with: for CNNs, the reshape of flat
    ``(N, C·H·W)`` inputs to images that :class:`ShrinkNet` does in its forward."""
    net = copy.deepcopy(model)
    net.removal_log = []
    remove_dead(net)
    modules: list[nn.Module] = []
    if net.spec.kind == "cnn":
        assert net.spec.image_shape is not None
        modules.append(flat_to_image(net.spec.image_shape))
    return net, modules


def frozen(modules: list[nn.Module]) -> nn.Sequential:
    """``nn.Sequential(*modules)`` in eval mode with no trainable parameter."""
    plain = nn.Sequential(*modules)
    for p in plain.parameters():
        p.requires_grad_(False)
    return plain.eval()


def _fold_into(previous: nn.Module, gate: Tensor) -> None:
    """Scale the outputs of ``previous`` (producer or norm) by ``gate``."""
    if isinstance(previous, nn.modules.batchnorm._BatchNorm):
        assert previous.weight is not None and previous.bias is not None
        previous.weight.mul_(gate)
        previous.bias.mul_(gate)
        return
    assert isinstance(previous, nn.Linear | nn.Conv2d)
    shape = [-1] + [1] * (previous.weight.dim() - 1)
    previous.weight.mul_(gate.view(shape))
    if previous.bias is not None:
        previous.bias.mul_(gate)


class _FlatToImage(nn.Module):
    """``(N, C·H·W)`` → ``(N, C, H, W)``; 4-D inputs pass through (TorchScript-able)."""

    def __init__(self, image_shape: tuple[int, int, int]):
        super().__init__()
        self.channels, self.height, self.width = image_shape

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return x.reshape(x.shape[0], self.channels, self.height, self.width)
        return x


def flat_to_image(image_shape: tuple[int, int, int]) -> nn.Module:
    """The module reshaping flat ``(N, C·H·W)`` inputs to ``(N, C, H, W)`` images."""
    return _FlatToImage(image_shape)
