"""Dead neurons: deciding them and removing them physically, during training.

Dead rules (``make_dead_rule``: the sign-variance rule γ, the magnitude rule, none) say
which neurons are dead; ``remove_dead`` slices them out of the producing and consuming
layers, the switches and the optimizer state (one handler per layer type,
``register_handler``) and logs a :class:`RemovalRecord` that ``replay_removals`` replays;
``fold`` folds the switches into the weights for a plain network. Pruning by importance
(``importance_scores``, ``prune_to_params``: Taylor or weight-norm scores, ranked across
layers to a parameter target) marks neurons dead the same way, for ``remove_dead``.
"""

from shrinknets_core.network._groups import RemovalGroup, RemovalRecord
from shrinknets_core.removal._fold import SelectColumns, flat_to_image, fold, frozen, live_copy
from shrinknets_core.removal._handlers import LayerHandler, ParamSlice, register_handler
from shrinknets_core.removal._remove import remove_dead, replay_removals
from shrinknets_core.removal.dead import (
    DeadRule,
    MagnitudeRule,
    NoRule,
    SignVarianceRule,
    enforce_dead,
    make_dead_rule,
)
from shrinknets_core.removal.importance import (
    IMPORTANCES,
    PruneOutcome,
    importance_scores,
    params_at_widths,
    prune_to_params,
)

__all__ = [
    "IMPORTANCES",
    "DeadRule",
    "LayerHandler",
    "MagnitudeRule",
    "NoRule",
    "ParamSlice",
    "PruneOutcome",
    "RemovalGroup",
    "RemovalRecord",
    "SelectColumns",
    "SignVarianceRule",
    "enforce_dead",
    "flat_to_image",
    "fold",
    "frozen",
    "importance_scores",
    "live_copy",
    "make_dead_rule",
    "params_at_widths",
    "prune_to_params",
    "register_handler",
    "remove_dead",
    "replay_removals",
]
