"""What every trial of both searches shares: its seed, and how a stopped one ends.

Its own module so that :mod:`studies.execute` and :mod:`studies.lambda_path` both use it
without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shrinknets_core.errors import ShrinkNetsError

if TYPE_CHECKING:
    from studies.spec import StudySpec

__all__ = ["TrialStopped", "trial_seed"]


class TrialStopped(ShrinkNetsError):
    """``run_trial`` ended because an ``on_epoch`` callback raised ``StopTraining``.

    The trial's partial history is stored; the caller decides its state (e.g. tell it
    ``FAIL`` or leave it for a retry).
    """


def trial_seed(spec: StudySpec, number: int) -> int:
    """Seed of trial ``number``: weights init and batch order (same for both searches)."""
    return (spec.search.seed * 100_003 + number) % (2**31 - 1)
