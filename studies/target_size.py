"""The ``target_size`` kind: find the λ whose final network meets a parameter budget.

A bigger λ gives a smaller network, so the smallest λ whose final parameter count is at
most ``target_params`` is the largest (usually most accurate) network within budget.
:func:`next_lambda` bisects log λ on the finished trials of the study:

* ``hi`` = the smallest λ already within budget (``lam_max`` if none yet);
* ``lo`` = the largest λ still over budget below ``hi`` (``lam_min`` if none yet);
* the next probe is their geometric mean.

Each probe is one trial. The λ is derived from the study's finished trials at ask time,
so the search resumes after a crash and works with any number of sequential workers;
parallel workers would probe the same λ until one finishes (bisection is sequential by
nature) — run target-size studies with one worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TargetSizeSampler", "best_within_target", "next_lambda"]


def _probes(trials: Sequence[FrozenTrial]) -> list[tuple[float, int]]:
    out = []
    for t in trials:
        lam, params = t.params.get("lam"), t.user_attrs.get("params")
        if t.state == TrialState.COMPLETE and lam is not None and params is not None:
            out.append((float(lam), int(params)))
    return out


def next_lambda(
    trials: Sequence[FrozenTrial], *, lam_min: float, lam_max: float, target_params: int
) -> float:
    """The next λ to probe (see module docstring).

    Args:
        trials: the study's trials (only complete ones with ``lam`` and ``params`` count).
        lam_min, lam_max: the search interval.
        target_params: the parameter budget.

    Returns:
        A λ in ``[lam_min, lam_max]``.
    """
    probes = _probes(trials)
    within = [lam for lam, params in probes if params <= target_params]
    hi = min(within, default=lam_max)
    lo = max(
        (lam for lam, params in probes if params > target_params and lam < hi), default=lam_min
    )
    return min(max(math.sqrt(lo * hi), lam_min), lam_max)


def best_within_target(trials: Sequence[FrozenTrial], target_params: int) -> FrozenTrial | None:
    """The complete trial with the lowest validation loss among those within budget."""
    ok = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values
        and int(t.user_attrs.get("params", target_params + 1)) <= target_params
    ]
    return min(ok, key=lambda t: t.values[0], default=None)


class TargetSizeSampler(BaseSampler):
    """Samples ``lam`` by bisection (:func:`next_lambda`); any other parameter at random.

    Args:
        target_params: the parameter budget.
        seed: seeds the random sampler used for other parameters (γ, lr).
    """

    def __init__(self, target_params: int, *, seed: int | None = None) -> None:
        self.target_params = target_params
        self._random = RandomSampler(seed=seed)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if param_name == "lam" and isinstance(
            param_distribution, optuna.distributions.FloatDistribution
        ):
            trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            return next_lambda(
                trials,
                lam_min=param_distribution.low,
                lam_max=param_distribution.high,
                target_params=self.target_params,
            )
        return self._random.sample_independent(study, trial, param_name, param_distribution)
