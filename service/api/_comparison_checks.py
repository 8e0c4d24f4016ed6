"""Checks a posted comparison must pass: its arms, then its spec (``check_spec``).

The comparison is planned once (``studies.arms.plan_comparison``: ``arms`` must name at
least two different arms of ``studies.arms.ARMS``, each of which the spec fits; a body
without ``arms`` gets the default). A bad list is one error item with ``field: "arms"``
and the allowed values, reported together with whatever :func:`check_spec` finds in the
spec, so one answer names every problem. The plan, with the dataset ``check_spec``
resolved, is what the scheduler creates.
"""

from __future__ import annotations

from service.api._spec_checks import check_spec
from service.api.errors import ApiError, ErrorItem
from service.api.schemas import ARMS_ALLOWED, ComparisonRequest
from service.settings import Settings
from shrinknets_core.errors import ConfigError
from studies.arms import plan_comparison
from studies.spec import StudySpec

__all__ = ["check_comparison"]


def _problem(error: ConfigError) -> ErrorItem:
    field = error.field or "arms"
    return ErrorItem("validation_error", f"{field}: {error.detail}", field=field,
                     allowed=ARMS_ALLOWED)


def check_comparison(
    body: ComparisonRequest, settings: Settings
) -> tuple[StudySpec, dict[str, StudySpec]]:
    """The shared spec to store (``check_spec``'s answer) and each arm's spec to create.

    Args:
        body: The posted spec and optional arms.
        settings: This server's limits and data directory.

    Returns:
        ``(spec, plan)``: the plan holds the default arms when the body names none.

    Raises:
        ApiError: 422 naming every problem: ``arms`` first, then the spec's (its limits,
            dataset and, with valid arms, a compute budget too small for any arm's trial).
    """
    spec = body.shared_spec()
    try:
        plan = plan_comparison(spec, body.arms, trial_cap=settings.max_trials)
        problems: list[ErrorItem] = []
    except ConfigError as e:
        plan, problems = {}, [_problem(e)]
    try:
        spec = check_spec(spec, settings, arm_specs=list(plan.values()) or None)
    except ApiError as e:
        if not problems:
            raise
        own = e.details or [ErrorItem(e.code, e.message, field=e.field, allowed=e.allowed)]
        raise ApiError.from_items(e.status, [*problems, *own]) from e
    if problems:
        raise ApiError.from_items(422, problems)
    return spec, {arm: s.model_copy(update={"dataset": spec.dataset}) for arm, s in plan.items()}
