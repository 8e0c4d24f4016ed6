"""Physical removal of dead neurons during training, and its replay.

:func:`remove_dead` slices, for every :class:`~shrinknets_core.network.models.ShrinkNet` group,
producer rows and bias, BatchNorm affine and running stats, switch β/alive and the
consumer's input block as one unit (handlers in :mod:`shrinknets_core.removal._handlers`),
swaps the new parameters into the optimizer with their state sliced
(:mod:`shrinknets_core.removal._optim_state`) and slices the dead rule's per-neuron state. The
network computes the same function before and after, and training continues exactly
as with the dead neurons masked. Each removal is logged as a :class:`RemovalRecord`
that :func:`replay_removals` re-applies to a freshly built model, so that a shrunk
checkpoint's ``state_dict`` loads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.network._groups import RemovalGroup, RemovalRecord
from shrinknets_core.network.models import ShrinkNet
from shrinknets_core.removal._handlers import ParamSlice, handler_for
from shrinknets_core.removal._optim_state import slice_optimizer
from shrinknets_core.removal.dead import DeadRule

__all__ = ["RemovalGroup", "RemovalRecord", "remove_dead", "replay_removals"]


def remove_dead(
    model: ShrinkNet,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    rule: DeadRule | None = None,
    step: int | None = None,
) -> RemovalRecord | None:
    """Physically remove every neuron whose ``switch.alive`` is False.

    A layer is never left at width 0: if all its neurons are dead, the one with the
    largest ``|β|`` (the first on ties) stays, still dead, so the function is unchanged.

    Args:
        model: the network to shrink in place.
        optimizer: optimizer over ``model``'s parameters; its parameters and their
            per-parameter state are replaced by sliced copies.
        rule: the dead rule tracking ``model``; its per-neuron state is sliced.
        step: training step recorded in the log (default: the number of removals so far).

    Returns:
        The record appended to ``model.removal_log``, or None if nothing was dead.
    """
    groups = model.groups()
    kept: list[Tensor] = []
    changed = False
    for g in groups:
        width = g.width
        if g.switch is None or g.switch.frozen:  # a frozen switch has every neuron alive
            kept.append(torch.arange(width))
            continue
        alive = g.switch.alive
        keep = torch.nonzero(alive).flatten()
        if keep.numel() == 0:
            keep = torch.argmax(g.switch.beta.detach().abs()).reshape(1)
        changed = changed or keep.numel() < width
        kept.append(keep.cpu())
    if not changed:
        return None
    record = RemovalRecord(
        step=len(model.removal_log) if step is None else int(step),
        kept=[k.tolist() for k in kept],
    )
    _apply(model, groups, kept, optimizer=optimizer, rule=rule)
    model.removal_log.append(record)
    return record


def replay_removals(model: ShrinkNet, log: Sequence[RemovalRecord]) -> None:
    """Re-apply removal records to a model, e.g. a freshly built one before ``load_state_dict``.

    The records are applied on top of the model's current widths and appended to its
    ``removal_log``, so a model that already holds a prefix of a log can replay the rest.

    Args:
        model: a model built from the same spec as the one that produced ``log``.
        log: the records, in order (e.g. from a checkpoint).

    Raises:
        ShrinkNetsError: if a record does not fit the model (wrong group count, index
            out of range) — the log belongs to a different spec.
    """
    for n, record in enumerate(log):
        groups = model.groups()
        if len(record.kept) != len(groups):
            raise ShrinkNetsError(
                f"removal record {n} has {len(record.kept)} groups but the model has "
                f"{len(groups)}; the log belongs to another model spec"
            )
        kept = []
        for g, k in zip(groups, record.kept, strict=True):
            if not k or min(k) < 0 or max(k) >= g.width or len(set(k)) != len(k):
                raise ShrinkNetsError(
                    f"removal record {n}, group {g.name!r}: kept indices {k[:10]}... do not fit "
                    f"width {g.width}; the log belongs to another model spec"
                )
            kept.append(torch.tensor(k, dtype=torch.long))
        _apply(model, groups, kept, optimizer=None, rule=None)
        replayed = RemovalRecord(step=record.step, kept=[list(k) for k in record.kept])
        model.removal_log.append(replayed)


def _apply(
    model: ShrinkNet,
    groups: list[RemovalGroup],
    kept: list[Tensor],
    *,
    optimizer: torch.optim.Optimizer | None,
    rule: DeadRule | None,
) -> None:
    """Slice every group whose ``kept`` is not its full range."""
    switch_pos = {id(sw): i for i, sw in enumerate(model.switches())}
    for g, keep in zip(groups, kept, strict=True):
        if keep.numel() == g.width:
            continue
        device = next(g.consumer.parameters()).device
        keep = keep.to(device)
        slices: list[ParamSlice] = []
        for module in (g.producer, g.norm, g.switch):
            if module is not None:
                out_fn = handler_for(module).outputs
                assert out_fn is not None, f"{type(module).__name__} cannot be a producer"
                slices += out_fn(module, keep)
        in_fn = handler_for(g.consumer).inputs
        if in_fn is None:
            raise ShrinkNetsError(f"{type(g.consumer).__name__} cannot consume gated neurons")
        columns = _expand(keep, g.block)
        slices += in_fn(g.consumer, columns)
        if optimizer is not None:
            slice_optimizer(optimizer, slices)
        if rule is not None and g.switch is not None:
            rule.keep_neurons(switch_pos[id(g.switch)], keep)


def _expand(keep: Tensor, block: int) -> Tensor:
    """Neuron indices → consumer columns (neuron ``i`` owns ``[i·block, (i+1)·block)``)."""
    if block == 1:
        return keep
    offsets = torch.arange(block, device=keep.device)
    return (keep.unsqueeze(1) * block + offsets).flatten()
