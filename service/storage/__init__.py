"""Persistence in plain functions over one Optuna RDB database (SQLite or PostgreSQL).

The Optuna storage is the single source of truth for studies and trials (a study's spec
is its ``spec`` user attribute); the service's own tables (``snk_*``) live in the same
database. One engine per process (:func:`make_engine`), one storage per process
(:func:`open_storage`), both opened by :func:`open_backend`.

This package knows rows, engines and sessions: it reads and writes records and decides
nothing about trials. Creating studies, claiming trials and owning λ paths is
``service.scheduler``'s. Of ``studies`` it imports only the declarative vocabularies a
record needs (``studies.spec``, ``studies.arms``, and ``studies.budget``'s spending sum
for progress), nothing that samples or trains.
"""

from service.storage._backend import StorageBackend, open_backend
from service.storage._comparisons import (
    ComparisonRecord,
    comparison_status,
    comparison_studies,
    comparisons_studies,
    count_comparison_records,
    delete_comparison,
    get_comparison_record,
    insert_comparison,
    list_comparison_records,
)
from service.storage._engine import (
    db_lock,
    is_connection_error,
    make_engine,
    normalise_url,
    redact_url,
    session_scope,
)
from service.storage._optuna_storage import open_storage, retry_callback
from service.storage._progress import (
    Progress,
    compute_limits,
    studies_progress,
    study_progress,
    study_spending,
    trial_state_counts,
    waiting_trial_ids,
)
from service.storage._records import (
    RUNNABLE_STATUSES,
    SETTLED_STATUSES,
    STUDY_STATUSES,
    StudyRecord,
    StudyStatus,
    cancel_study,
    delete_study,
    get_study_record,
    insert_study_records,
    last_failure,
    list_study_records,
    runnable_study_records,
    set_study_status,
    study_status,
)
from service.storage._schema import SCHEMA_VERSION, StudyRow, WorkerRow, init_schema, utcnow
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
    "StudyRow",
    "StudyStatus",
    "WorkerInfo",
    "WorkerRow",
    "cancel_study",
    "comparison_status",
    "comparison_studies",
    "comparisons_studies",
    "compute_limits",
    "count_comparison_records",
    "db_lock",
    "delete_comparison",
    "delete_study",
    "forget_worker",
    "get_comparison_record",
    "get_study_record",
    "init_schema",
    "insert_comparison",
    "insert_study_records",
    "is_connection_error",
    "last_failure",
    "list_comparison_records",
    "list_study_records",
    "live_workers",
    "make_engine",
    "normalise_url",
    "open_backend",
    "open_storage",
    "record_worker_heartbeat",
    "redact_url",
    "retry_callback",
    "runnable_study_records",
    "session_scope",
    "set_study_status",
    "studies_progress",
    "study_progress",
    "study_spending",
    "study_status",
    "trial_state_counts",
    "utcnow",
    "waiting_trial_ids",
    "workers_of_process",
]
