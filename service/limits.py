"""This server's limits on a study spec: ``StudySpec``'s own maxima tightened by the settings.

One owner for the API's checks (:mod:`service.api._spec_checks`) and the form's ``max``
attributes (:mod:`service.web._form`), so the two cannot disagree.
"""

from __future__ import annotations

from service.settings import Settings
from studies.spec import StudySpec

__all__ = ["LIMITED_FIELDS", "effective_limits"]

#: Dotted spec field → (the ``Settings`` attribute that tightens it, the spec's hard maximum).
LIMITED_FIELDS: dict[str, tuple[str, int]] = {
    "architecture.max_width": ("max_width", StudySpec.MAX_WIDTH),
    "architecture.depth": ("max_depth", StudySpec.MAX_DEPTH),
    "training.epochs": ("max_epochs", StudySpec.MAX_EPOCHS),
    "search.n_trials": ("max_trials", StudySpec.MAX_TRIALS),
}


def effective_limits(settings: Settings) -> dict[str, int]:
    """The upper limit of each limited field on this server, by dotted spec field.

    Returns:
        e.g. ``{"architecture.max_width": 1024, "training.epochs": 500, ...}``: the lower
        of the setting (``SHRINKNETS_MAX_WIDTH`` ...) and ``StudySpec``'s maximum.
    """
    return {field: min(int(getattr(settings, attr)), hard)
            for field, (attr, hard) in LIMITED_FIELDS.items()}

