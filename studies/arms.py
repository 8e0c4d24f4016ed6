"""The arms a comparison can run on one spec, their labels and their one colour each.

An *arm* is a way of searching for a small network, run as one Optuna study:

* ``lambda``: λ search — TPE on log λ, every trial a ShrinkNet that starts at
  ``max_width`` and removes dead neurons while it trains;
* ``lambda_path``: one training whose λ is raised along a grid, each step a trial;
* ``prune_path``: the same schedule at λ = 0, each step pruning the least important
  neurons (Taylor or weight-norm importance, ranked across layers) to a size target —
  structured pruning after training, the rival that tells whether the λ path's results
  come from the switches or from the schedule;
* ``width``: width search — TPE on every layer's width, static networks, no pruning;
* ``width_hyperband``: the same width search with Optuna's ``HyperbandPruner`` on the
  per-epoch validation loss (single-objective, as Optuna requires for pruning; the
  parameter count is still recorded). This is the baseline most Optuna users would pick;
* ``width_mo_asha``: width search on (val loss, parameters) with multi-objective TPE and
  MO-ASHA (``studies._mo_asha``): successive halving whose rungs keep the best 1/η by
  non-dominated sorting, so early stopping does not empty the small end of the front —
  what a user who knows multi-fidelity search would run for "the smallest accurate net".

Every arm shares the spec's dataset, split, architecture, training (epochs, optimizer,
learning rate, λ₂) and budget; :func:`arm_spec` changes only what the arm is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from shrinknets_core.errors import ConfigError
from studies.spec import PATH_KINDS, SEARCH_KINDS, SearchSpec, StudySpec

__all__ = [
    "ARMS",
    "ARM_COLOURS",
    "ARM_LABELS",
    "DEFAULT_ARMS",
    "PATH_STEPS",
    "Arm",
    "arm_of",
    "arm_of_dict",
    "arm_spec",
    "check_arms",
    "default_arms",
    "plan_comparison",
]

Arm = Literal["lambda", "lambda_path", "prune_path", "width", "width_hyperband",
              "width_mo_asha", "target_size"]
ARMS: tuple[str, ...] = ("lambda", "lambda_path", "prune_path", "width", "width_hyperband",
                         "width_mo_asha")
"""The arms a comparison accepts (``target_size`` studies run alone)."""
DEFAULT_ARMS: tuple[str, ...] = ("lambda", "width")
ARM_LABELS: dict[str, str] = {
    "lambda": "λ search",
    "lambda_path": "λ path",
    "prune_path": "prune path",
    "width": "width search",
    "width_hyperband": "width search + Hyperband",
    "width_mo_asha": "width search + MO-ASHA",
    "target_size": "target size",
}
#: One colour per arm on every figure and page (colour-blind safe, readable on a light and
#: a dark background).
ARM_COLOURS: dict[str, str] = {
    "lambda": "#1f77b4",
    "lambda_path": "#9467bd",
    "prune_path": "#e377c2",
    "width": "#ff7f0e",
    "width_hyperband": "#2ca02c",
    "width_mo_asha": "#8c564b",
    "target_size": "#17becf",
}
assert set(get_args(Arm)) == set(ARM_LABELS) == set(ARM_COLOURS)
assert set(SEARCH_KINDS) <= set(ARM_LABELS)  # every study kind has its label and colour


def arm_of(spec: StudySpec) -> str:
    """The arm a study's spec runs (``width`` with the Hyperband or MO-ASHA pruner is its
    own arm)."""
    return _arm(spec.search.kind, spec.search.pruner)


def _arm(kind: str, pruner: str | None) -> str:
    if kind == "width" and pruner in ("hyperband", "mo_asha"):
        return f"width_{pruner}"
    return kind


def arm_of_dict(spec: Mapping[str, Any]) -> str:
    """:func:`arm_of` for a stored spec dict (no validation: cheap for listings)."""
    search = spec.get("search") or {}
    return _arm(str(search.get("kind") or "lambda"), search.get("pruner"))


def check_arms(arms: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate a comparison's arms: known, no repeats, at least two.

    Raises:
        ConfigError: naming ``arms`` and what is allowed.
    """
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ConfigError.about("arms", f"unknown arm(s) {unknown}; allowed: {', '.join(ARMS)}")
    if len(set(arms)) != len(arms):
        raise ConfigError.about("arms", f"each arm at most once, got {list(arms)}")
    if len(arms) < 2:
        raise ConfigError.about(
            "arms", f"a comparison needs at least 2 arms, got {list(arms)}; "
            f"allowed: {', '.join(ARMS)}"
        )
    return tuple(arms)


def arm_spec(spec: StudySpec, arm: str, *, path_steps: int = 20) -> StudySpec:
    """The spec of one arm: the shared spec with only the search kind (and pruner) changed.

    * ``width_hyperband``: kind ``width``, pruner ``hyperband``, objective ``val_loss``;
    * ``width_mo_asha``: kind ``width``, pruner ``mo_asha``, objectives ``val_loss`` and
      ``params`` (multi-objective TPE);
    * ``width``: kind ``width``; a ``hyperband`` or ``mo_asha`` pruner of the shared spec is
      dropped (those are the other arms), any other pruner is kept;
    * ``lambda_path``, ``prune_path``: a path needs steps: ``n_trials`` (``path_steps``,
      default 20, when the shared spec has a compute budget only; a server passes at most
      its trial limit);
    * ``lambda``: kind ``lambda``.

    Raises:
        ConfigError: ``arm`` is not one of :data:`ARMS`.
    """
    if arm not in ARMS:
        raise ConfigError.about("arms", f"unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
    update: dict[str, object] = {"kind": "width" if arm.startswith("width") else arm}
    search = spec.search
    if arm == "width_hyperband":
        update.update(pruner="hyperband", objectives=["val_loss"])
    elif arm == "width_mo_asha":
        update.update(pruner="mo_asha", objectives=["val_loss", "params"])
    elif search.pruner in ("hyperband", "mo_asha"):
        update["pruner"] = "none"
    if arm in PATH_KINDS and search.n_trials is None:
        update["n_trials"] = path_steps
    data = search.model_dump()
    data.update(update)
    try:
        new_search = SearchSpec.model_validate(data)
    except ValueError as e:  # e.g. a target_size-only field combination
        detail = f"arm {arm}: the shared spec does not fit this arm ({e})"
        raise ConfigError(detail, field="arms", detail=detail) from e
    return spec.model_copy(update={"search": new_search})


def default_arms(spec: StudySpec) -> tuple[str, ...]:
    """The arms of a comparison that names none: a λ path against width search when the
    spec's ``search.kind`` is ``lambda_path``, else :data:`DEFAULT_ARMS`."""
    return ("lambda_path", "width") if spec.search.kind == "lambda_path" else DEFAULT_ARMS


#: A λ path's grid points in a comparison whose spec gives no ``n_trials``.
PATH_STEPS = 20


def plan_comparison(
    spec: StudySpec, arms: Sequence[str] | None = None, *, trial_cap: int | None = None
) -> dict[str, StudySpec]:
    """Each arm's spec of a comparison, in display order: the one owner of that plan.

    Args:
        spec: The shared spec.
        arms: The arms (:func:`check_arms`); ``None``: :func:`default_arms`.
        trial_cap: The server's trial limit: a λ path's grid (when the spec gives no
            ``n_trials``) has at most that many points (default :data:`PATH_STEPS`).

    Raises:
        ConfigError: ``arms`` is not allowed, or the spec does not fit an arm (naming
            ``arms`` and the allowed values).
    """
    chosen = check_arms(list(arms)) if arms is not None else default_arms(spec)
    steps = min(PATH_STEPS, trial_cap) if trial_cap else PATH_STEPS
    return {arm: arm_spec(spec, arm, path_steps=steps) for arm in chosen}
