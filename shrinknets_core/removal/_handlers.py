"""Registry of per-layer-type slicing handlers used by physical removal.

A handler knows how to keep a subset of one module's *outputs* (rows of a producer,
entries of a norm or switch) or *inputs* (columns of a consumer). Every parameter it
replaces is reported as a :class:`ParamSlice` so the optimizer's per-parameter state
can be sliced the same way (:mod:`shrinknets_core.removal._optim_state`). Register handlers for
new layer types with :func:`register_handler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.network.switches import InputSwitch, Switch

__all__ = ["HANDLERS", "LayerHandler", "ParamSlice", "handler_for", "register_handler"]


@dataclass(frozen=True)
class ParamSlice:
    """``new`` replaced ``old``: ``new = old.index_select(dim, index)``."""

    old: nn.Parameter
    new: nn.Parameter
    dim: int
    index: Tensor


SliceFn = Callable[[nn.Module, Tensor], list[ParamSlice]]


@dataclass(frozen=True)
class LayerHandler:
    """How to keep outputs and/or inputs of one layer type.

    Attributes:
        outputs: ``(module, keep) -> slices``, keeps output features ``keep`` (None if the
            type has no outputs to slice).
        inputs: ``(module, keep) -> slices``, keeps input columns ``keep`` (already expanded
            to blocks); None if the type cannot consume gated neurons.
    """

    outputs: SliceFn | None = None
    inputs: SliceFn | None = None


HANDLERS: dict[type[nn.Module], LayerHandler] = {}


def register_handler(layer_type: type[nn.Module], handler: LayerHandler) -> None:
    """Register (or replace) the handler used for ``layer_type`` and its subclasses."""
    HANDLERS[layer_type] = handler


def handler_for(module: nn.Module) -> LayerHandler:
    """The handler of ``module``'s most specific registered type.

    Raises:
        ShrinkNetsError: if no handler is registered for the type (register one with
            :func:`register_handler`).
    """
    for cls in type(module).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    raise ShrinkNetsError(
        f"no removal handler for layer type {type(module).__name__}; known types: "
        f"{sorted(t.__name__ for t in HANDLERS)}; add one with register_handler()"
    )


def _slice_param(module: nn.Module, name: str, dim: int, index: Tensor) -> list[ParamSlice]:
    old = module._parameters.get(name)
    if old is None:
        return []
    with torch.no_grad():
        new = nn.Parameter(old.index_select(dim, index), requires_grad=old.requires_grad)
    if old.grad is not None:
        new.grad = old.grad.index_select(dim, index)
    module._parameters[name] = new
    return [ParamSlice(old=old, new=new, dim=dim, index=index)]


def _slice_buffer(module: nn.Module, name: str, index: Tensor) -> None:
    old = module._buffers.get(name)
    if old is not None:
        module._buffers[name] = old.index_select(0, index)


def _linear_out(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, nn.Linear)
    out = _slice_param(m, "weight", 0, keep) + _slice_param(m, "bias", 0, keep)
    m.out_features = int(keep.numel())
    return out


def _linear_in(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, nn.Linear)
    out = _slice_param(m, "weight", 1, keep)
    m.in_features = int(keep.numel())
    return out


def _conv_out(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, nn.Conv2d)
    out = _slice_param(m, "weight", 0, keep) + _slice_param(m, "bias", 0, keep)
    m.out_channels = int(keep.numel())
    return out


def _conv_in(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, nn.Conv2d)
    if m.groups != 1:
        raise ShrinkNetsError(f"cannot slice inputs of grouped Conv2d (groups={m.groups})")
    out = _slice_param(m, "weight", 1, keep)
    m.in_channels = int(keep.numel())
    return out


def _norm_out(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, nn.modules.batchnorm._BatchNorm)
    out = _slice_param(m, "weight", 0, keep) + _slice_param(m, "bias", 0, keep)
    _slice_buffer(m, "running_mean", keep)
    _slice_buffer(m, "running_var", keep)
    m.num_features = int(keep.numel())
    return out


def _switch_out(m: nn.Module, keep: Tensor) -> list[ParamSlice]:
    assert isinstance(m, Switch)
    out = _slice_param(m, "beta", 0, keep)
    _slice_buffer(m, "alive", keep)
    if isinstance(m, InputSwitch):
        _slice_buffer(m, "index", keep)
    return out


register_handler(nn.Linear, LayerHandler(outputs=_linear_out, inputs=_linear_in))
register_handler(nn.Conv2d, LayerHandler(outputs=_conv_out, inputs=_conv_in))
register_handler(nn.modules.batchnorm._BatchNorm, LayerHandler(outputs=_norm_out))
register_handler(Switch, LayerHandler(outputs=_switch_out))
