"""What one neuron costs: the weights of the priced penalty ``λ Σ_ℓ w_ℓ ‖β_ℓ‖₁``.

The plain penalty λ‖β‖₁ prices every neuron the same, yet a neuron of a layer fed by 784
inputs and feeding 256 outputs carries 1,041 parameters while one fed by 64 carries about
321: a λ search then spends its budget where the objective does not. With
``penalty_weight="params"`` each neuron's |β| is weighted by the parameters it carries —
its producer row (weights and bias), its norm entries (BatchNorm affine), its β, and the
consumer columns it feeds — so λ becomes the price of one parameter; with ``"macs"`` by the
multiply–accumulates per sample it costs (producer row and consumer columns, times the
spatial size of a convolution's output). Both are recomputed from the live widths after
every removal: when the next layer narrows, a neuron's fan-out, and so its price, falls.

Every neuron of a layer has the same price, so a layer's price is one number.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from shrinknets_core.network.models import ShrinkNet

__all__ = ["PENALTY_WEIGHTS", "neuron_prices"]

PENALTY_WEIGHTS = ("uniform", "params", "macs")
PenaltyWeight = Literal["uniform", "params", "macs"]


def _spatial_sizes(model: ShrinkNet) -> dict[int, int]:
    """Output H×W of every Conv2d (by module id), from one forward pass on a zero input."""
    shape = model.spec.image_shape
    if shape is None or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return {}
    sizes: dict[int, int] = {}

    def record(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        sizes[id(module)] = int(output.shape[-1] * output.shape[-2])

    hooks = [
        m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)
    ]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=param.device, dtype=param.dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return sizes


def _per_neuron(
    layer: nn.Module, *, as_producer: bool, macs: bool, hw: int, block: int = 1
) -> float:
    """Weights (or MACs per sample) one neuron owns in ``layer``'s weight matrix (a neuron
    feeds ``block`` consumer columns when a conv channel is flattened into a dense layer)."""
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    neurons = weight.shape[0] if as_producer else weight.shape[1] // block
    share = weight.numel() / max(int(neurons), 1)
    if macs:
        return share * (hw if isinstance(layer, nn.Conv2d) else 1)
    bias = getattr(layer, "bias", None)
    return share + (1.0 if as_producer and bias is not None else 0.0)


def neuron_prices(model: ShrinkNet, weight: str) -> list[float]:
    """The price of one neuron of every switched layer, in :meth:`ShrinkNet.switches` order.

    Args:
        model: the network as it is now (present widths).
        weight: ``"uniform"`` (1 per neuron), ``"params"`` or ``"macs"`` (module docstring).

    Returns:
        One positive number per switch.

    Raises:
        ValueError: unknown ``weight``.
    """
    if weight not in PENALTY_WEIGHTS:
        raise ValueError(f"penalty_weight={weight!r} is not one of {PENALTY_WEIGHTS}")
    groups = [g for g in model.groups() if g.switch is not None]
    if weight == "uniform":
        return [1.0] * len(groups)
    macs = weight == "macs"
    sizes = _spatial_sizes(model) if macs else {}
    prices = []
    for g in groups:
        price = 0.0
        if g.producer is not None:
            price += _per_neuron(
                g.producer, as_producer=True, macs=macs, hw=sizes.get(id(g.producer), 1)
            )
        if not macs:
            price += 1.0 + (2.0 if g.norm is not None and getattr(g.norm, "affine", False) else 0)
        price += _per_neuron(
            g.consumer, as_producer=False, macs=macs, hw=sizes.get(id(g.consumer), 1),
            block=g.block,
        )
        prices.append(max(price, 1.0))
    return prices
