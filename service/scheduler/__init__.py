"""Scheduling trials between the service's storage and ``studies``.

Everything that decides what runs: creating a study's (or a comparison's arms') Optuna
studies with their rows, atomic trial claims within the exact trial and compute budgets,
failing trials whose heartbeat stopped and enqueueing their retries, reseeding the
sampler per trial, and one owner per λ path. It is built on ``service.storage`` (rows,
engines, sessions, the database lock) and ``studies`` (samplers, asking trials); the
storage imports nothing from here.
"""

from service.scheduler._claim import (
    MAX_EXTRA_FAILURES,
    claim_trial,
    fail_trial,
    finish_trial,
    reap_stale_trials,
)
from service.scheduler._create import (
    create_comparison,
    create_study_record,
    trial_cap_of,
)
from service.scheduler._ownership import claim_path, release_path

__all__ = [
    "MAX_EXTRA_FAILURES",
    "claim_path",
    "claim_trial",
    "create_comparison",
    "create_study_record",
    "fail_trial",
    "finish_trial",
    "reap_stale_trials",
    "release_path",
    "trial_cap_of",
]
