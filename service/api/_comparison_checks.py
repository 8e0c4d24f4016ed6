"""Checks a posted comparison must pass: its arms, then its spec (``check_spec``).

``arms`` must name at least two different arms of ``studies.arms.ARMS``, each of which
the spec fits (``arm_spec``); a body without ``arms`` gets ``default_arms(spec)``. A bad
list is one error item with ``field: "arms"`` and the allowed values, reported together
with whatever :func:`check_spec` finds in the spec, so one answer names every problem.
"""

from __future__ import annotations

from service.api._spec_checks import check_spec
from service.api.errors import ApiError, ErrorItem
from service.api.schemas import ComparisonRequest
from service.scheduler import default_arms
from service.settings import Settings
from shrinknets_core.errors import ConfigError
from studies.arms import ARMS, arm_spec, check_arms
from studies.spec import StudySpec

__all__ = ["ARMS_ALLOWED", "check_comparison"]

ARMS_ALLOWED = "at least 2 different arms of: " + ", ".join(ARMS)
"""The ``allowed`` text of an error about ``arms``."""


def _problem(message: str) -> ErrorItem:
    text = message.removeprefix("field ")
    if not text.startswith("arms:"):
        text = f"arms: {text}"
    return ErrorItem("validation_error", text, field="arms", allowed=ARMS_ALLOWED)


def _arms(body: ComparisonRequest, spec: StudySpec) -> tuple[tuple[str, ...], list[ErrorItem]]:
    """The arms to create and what is wrong with them (unknown, repeated, fewer than 2, or
    not fitting the spec)."""
    if body.arms is None:
        return default_arms(spec), []
    try:
        arms = check_arms(body.arms)
        for arm in arms:
            arm_spec(spec, arm)
    except ConfigError as e:
        return (), [_problem(str(e))]
    return arms, []


def check_comparison(
    body: ComparisonRequest, settings: Settings
) -> tuple[StudySpec, tuple[str, ...]]:
    """The shared spec to store (``check_spec``'s answer) and the arms to create.

    Args:
        body: The posted spec and optional arms.
        settings: This server's limits and data directory.

    Returns:
        ``(spec, arms)``; ``arms`` is the default when the body names none.

    Raises:
        ApiError: 422 naming every problem: ``arms`` first, then the spec's (its limits,
            dataset and, with valid arms, a compute budget too small for any arm's trial).
    """
    spec = body.shared_spec()
    arms, problems = _arms(body, spec)
    try:
        spec = check_spec(spec, settings, arms=arms or None)
    except ApiError as e:
        if not problems:
            raise
        own = e.details or [ErrorItem(e.code, e.message, field=e.field, allowed=e.allowed)]
        raise ApiError.from_items(e.status, [*problems, *own]) from e
    if problems:
        raise ApiError.from_items(422, problems)
    return spec, arms
