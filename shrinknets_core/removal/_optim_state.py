"""Keep an optimizer consistent with parameters replaced by physical removal.

Each replaced parameter is swapped for its sliced successor in ``param_groups`` and
every per-parameter state tensor of the same shape as the old parameter (SGD
``momentum_buffer``, Adam/AdamW ``exp_avg``/``exp_avg_sq``/``max_exp_avg_sq``, Adagrad
``sum``, ...) is sliced along the same dimension; scalars such as ``step`` are kept.
Training therefore continues exactly as if the removed entries had been masked.
"""

from __future__ import annotations

from typing import Any

import torch

from shrinknets_core.removal._handlers import ParamSlice

__all__ = ["slice_optimizer"]


def slice_optimizer(optimizer: torch.optim.Optimizer, slices: list[ParamSlice]) -> None:
    """Apply ``slices`` (in order; a parameter may be sliced twice) to ``optimizer``."""
    for s in slices:
        found = False
        for group in optimizer.param_groups:
            params: list[Any] = group["params"]
            for i, p in enumerate(params):
                if p is s.old:
                    params[i] = s.new
                    found = True
        if not found:
            continue
        state = optimizer.state.pop(s.old, None)
        if state is None:
            continue
        optimizer.state[s.new] = {
            key: _slice_state(value, s) for key, value in state.items()
        }


def _slice_state(value: Any, s: ParamSlice) -> Any:
    if isinstance(value, torch.Tensor) and value.shape == s.old.shape:
        return value.index_select(s.dim, s.index.to(value.device))
    return value
