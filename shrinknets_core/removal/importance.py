"""Pruning by importance: the rule of a prune-after-training path, beside the dead rules.

Structured pruning ranks neurons by an importance score and removes the least important
ones, across all layers at once, until a size target is met (Torch-Pruning's global
pruning, Fang et al. 2023; Molchanov et al. 2017 for the Taylor score). Here the ranking
only *marks* neurons dead (``switch.alive = False``, ``β = 0``), exactly as the dead rules
do; :func:`shrinknets_core.removal._remove.remove_dead` then removes them physically,
optimizer state, dead-rule state and the removal log included (``Trainer.prune_to``).

Scores, one per neuron of every hidden layer with a switch (a *group* with a producer):

* ``"taylor"``: first-order Taylor estimate of the loss change when the neuron is
  silenced — per sample ``|Σ a·∂L/∂a|`` over the neuron's outputs ``a`` (the switch's
  output: one value for a dense neuron, a feature map for a conv channel), averaged over
  the samples of a few training batches.
* ``"l2"``: the product of the L2 norms of the neuron's incoming weights (its producer
  row) and of its outgoing weights (its consumer columns) times ``|β|``, the gate between
  them: the magnitude of the path through the neuron.

Each layer's scores are divided by their mean over the layer's live neurons (Torch-Pruning's
default ``"mean"`` normaliser), so layers of different sizes and scales rank on one scale.
Dead neurons score 0 and are not candidates (they go at the next removal anyway). A layer
never loses its last live neuron: its highest-scored neuron is never a candidate.
Frozen switches (``Switch.freeze``) are skipped: their layers are not pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal, cast, get_args

import torch
from torch import Tensor, nn

from shrinknets_core.errors import ConfigError
from shrinknets_core.network._groups import RemovalGroup
from shrinknets_core.network.models import ShrinkNet, build_model
from shrinknets_core.network.switches import Switch

__all__ = [
    "IMPORTANCES",
    "Importance",
    "PruneOutcome",
    "importance_scores",
    "params_at_widths",
    "prune_to_params",
]

Importance = Literal["taylor", "l2"]
IMPORTANCES: tuple[str, ...] = get_args(Importance)

Batches = Iterable[tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class PruneOutcome:
    """What :func:`prune_to_params` did.

    Attributes:
        killed: neurons marked dead.
        params: the parameter count once they are removed.
        reached: ``params <= target`` (False: every layer is down to one live neuron).
        cost_macs: training MACs spent scoring (``Trainer.prune_to``: the Taylor score's
            forward and backward passes, counted 3× forward like training).
        wall_time_s: seconds spent scoring and marking.
    """

    killed: int
    params: int
    reached: bool
    cost_macs: float = 0.0
    wall_time_s: float = 0.0


def _pruned_groups(model: ShrinkNet) -> list[RemovalGroup]:
    """The hidden groups with a live switch: what a prune may shrink."""
    return [g for g in model.groups() if g.producer is not None and g.switch is not None]


def importance_scores(
    model: ShrinkNet,
    importance: str,
    *,
    batches: Batches = (),
    loss_fn: LossFn | None = None,
) -> list[Tensor]:
    """One normalised score per neuron of every hidden switched layer (module docstring),
    in :meth:`ShrinkNet.groups` order; dead neurons score 0.

    Args:
        model: the network as it is now.
        importance: ``"taylor"`` or ``"l2"``.
        batches: ``(x, y)`` training batches (``"taylor"`` only; on the model's device).
        loss_fn: the training loss ``loss_fn(outputs, y)`` (``"taylor"`` only).

    Raises:
        ConfigError: unknown ``importance``, or ``"taylor"`` without batches or loss.
    """
    if importance not in IMPORTANCES:
        raise ConfigError.about("importance", f"must be one of {list(IMPORTANCES)}, "
                                f"got {importance!r}")
    groups = _pruned_groups(model)
    if importance == "l2":
        raw = [_l2(g) for g in groups]
    else:
        if loss_fn is None:
            raise ConfigError.about("importance", "'taylor' needs a loss function and batches")
        raw = _taylor(model, groups, batches, loss_fn)
    out = []
    for g, score in zip(groups, raw, strict=True):
        assert g.switch is not None
        alive = g.switch.alive
        score = torch.where(alive, score.to(alive.device), torch.zeros_like(score))
        mean = score[alive].mean() if bool(alive.any()) else score.new_tensor(0.0)
        out.append(score / mean if float(mean) > 0 else score)
    return out


def _l2(g: RemovalGroup) -> Tensor:
    """``‖producer row‖ · ‖consumer columns‖ · |β|`` per neuron."""
    assert g.producer is not None and g.switch is not None
    w_in = cast(Tensor, g.producer.weight).detach()
    incoming = w_in.reshape(w_in.shape[0], -1).norm(dim=1)
    w_out = cast(Tensor, g.consumer.weight).detach()
    cols = w_out.shape[1] // g.block
    outgoing = w_out.transpose(0, 1).reshape(cols, -1).norm(dim=1)  # block i → neuron i
    return incoming * outgoing * g.switch.beta.detach().abs()


def _taylor(model: ShrinkNet, groups: list[RemovalGroup], batches: Batches,
            loss_fn: LossFn) -> list[Tensor]:
    """Per neuron: the mean over samples of ``|Σ a·∂L/∂a|`` (the switch's outputs)."""
    switches = [g.switch for g in groups]
    outputs: dict[int, Tensor] = {}

    def keep(module: nn.Module, _inputs: object, output: Tensor) -> None:
        output.retain_grad()
        outputs[id(module)] = output

    sums = [torch.zeros(sw.num_features, device=sw.beta.device) for sw in switches
            if sw is not None]
    samples = 0
    hooks = [sw.register_forward_hook(keep) for sw in switches if sw is not None]
    was_training = model.training
    model.eval()  # no dropout noise and no BatchNorm statistics update in the scores
    try:
        for x, y in batches:
            outputs.clear()
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y) * x.shape[0]  # per-sample gradients, not / N
            loss.backward()
            for i, sw in enumerate(switches):
                assert sw is not None
                a = outputs[id(sw)]
                assert a.grad is not None
                per = (a * a.grad).reshape(a.shape[0], a.shape[1], -1).sum(dim=2)
                sums[i] += per.abs().sum(dim=0).detach()
            samples += x.shape[0]
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if samples == 0:
        raise ConfigError.about("importance", "'taylor' needs at least one batch of data")
    return [s / samples for s in sums]


def params_at_widths(model: ShrinkNet, alive: list[int]) -> int:
    """The parameter count ``model`` would have with ``alive`` neurons in each of its
    pruned groups (:func:`importance_scores`' order) once the others are removed."""
    spec = model.spec
    hidden = list(spec.hidden) + list(spec.dense)
    if len(hidden) != len(alive):
        raise ConfigError(f"expected {len(hidden)} widths (one per hidden layer), got {alive}")
    n_conv = len(spec.hidden) if spec.kind == "cnn" else len(hidden)
    shaped = replace(spec, hidden=tuple(alive[:n_conv]), dense=tuple(alive[n_conv:]))
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return build_model(shaped, seed=0).param_count()


def prune_to_params(model: ShrinkNet, scores: list[Tensor], target: int) -> PruneOutcome:
    """Mark dead, across all layers at once, the lowest-scored live neurons until the
    network would have at most ``target`` parameters; never a layer's last live neuron.

    Candidates are ranked by score (ties: earlier layer, then lower index first); the
    fewest lowest-ranked neurons that reach ``target`` are killed (a binary search on the
    exact parameter count, :func:`params_at_widths`). When even one neuron per layer is
    above ``target``, every candidate goes and ``reached`` is False.

    Raises:
        ConfigError: ``scores`` do not match the network's pruned layers.
    """
    groups = _pruned_groups(model)
    if len(scores) != len(groups):
        raise ConfigError(f"got {len(scores)} score vectors for {len(groups)} pruned layers")
    candidates: list[tuple[float, int, int]] = []
    for layer, (g, score) in enumerate(zip(groups, scores, strict=True)):
        sw = g.switch
        assert sw is not None
        if sw.frozen:
            continue
        live = torch.nonzero(sw.alive).flatten().tolist()
        if len(live) <= 1:
            continue
        values = score.detach().cpu().tolist()
        best = max(live, key=lambda i: (values[i], -i))  # the layer's survivor
        candidates += [(values[i], layer, i) for i in live if i != best]
    candidates.sort()
    base = [int(g.switch.alive.sum()) for g in groups if g.switch is not None]

    def params_after(k: int) -> int:
        widths = list(base)
        for _, layer, _ in candidates[:k]:
            widths[layer] -= 1
        return params_at_widths(model, widths)

    lo, hi = 0, len(candidates)
    if params_after(hi) > target:
        lo = hi
    while lo < hi:  # the fewest removals that reach the target
        mid = (lo + hi) // 2
        if params_after(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    chosen = candidates[:lo]
    with torch.no_grad():
        for layer, g in enumerate(groups):
            sw = g.switch
            assert isinstance(sw, Switch)
            idx = [i for _, at, i in chosen if at == layer]
            if idx:
                sw.alive[torch.tensor(idx, device=sw.alive.device)] = False
                sw.beta[~sw.alive] = 0.0
    params = params_after(lo)
    return PruneOutcome(killed=len(chosen), params=params, reached=params <= target)
