"""Persistence in plain functions over one Optuna RDB database (SQLite or PostgreSQL).

The Optuna storage is the single source of truth for studies and trials; the
service's own tables (``snk_*``) live in the same database. One engine per process
(:func:`make_engine`), one storage per process (:func:`open_storage`).
"""

from service.storage._backend import StorageBackend, open_backend
from service.storage._claim import (
    claim_trial,
    fail_trial,
    finish_trial,
    reap_stale_trials,
)
from service.storage._comparisons import (
    ComparisonRecord,
    comparison_status,
    comparison_studies,
    comparisons_studies,
    count_comparison_records,
    create_comparison,
    default_arms,
    delete_comparison,
    get_comparison_record,
    list_comparison_records,
)
from service.storage._engine import (
    db_lock,
    is_connection_error,
    make_engine,
    normalise_url,
    session_scope,
)
from service.storage._optuna_storage import open_storage
from service.storage._ownership import claim_path, release_path
from service.storage._progress import (
    Progress,
    studies_progress,
    study_progress,
    trial_state_counts,
)
from service.storage._records import (
    RUNNABLE_STATUSES,
    SETTLED_STATUSES,
    STUDY_STATUSES,
    StudyRecord,
    StudyStatus,
    cancel_study,
    create_study_record,
    delete_study,
    get_study_record,
    list_study_records,
    runnable_study_records,
    set_study_status,
)
from service.storage._schema import SCHEMA_VERSION, init_schema
from service.storage._workers import (
    WorkerInfo,
    forget_worker,
    live_workers,
    record_worker_heartbeat,
    workers_of_process,
)

__all__ = [
    "RUNNABLE_STATUSES",
    "SCHEMA_VERSION",
    "SETTLED_STATUSES",
    "STUDY_STATUSES",
    "ComparisonRecord",
    "Progress",
    "StorageBackend",
    "StudyRecord",
    "StudyStatus",
    "WorkerInfo",
    "cancel_study",
    "claim_path",
    "claim_trial",
    "comparison_status",
    "comparison_studies",
    "comparisons_studies",
    "count_comparison_records",
    "create_comparison",
    "create_study_record",
    "db_lock",
    "default_arms",
    "delete_comparison",
    "delete_study",
    "fail_trial",
    "finish_trial",
    "forget_worker",
    "get_comparison_record",
    "get_study_record",
    "init_schema",
    "is_connection_error",
    "list_comparison_records",
    "list_study_records",
    "live_workers",
    "make_engine",
    "normalise_url",
    "open_backend",
    "open_storage",
    "reap_stale_trials",
    "record_worker_heartbeat",
    "release_path",
    "runnable_study_records",
    "session_scope",
    "set_study_status",
    "studies_progress",
    "study_progress",
    "trial_state_counts",
    "workers_of_process",
]
