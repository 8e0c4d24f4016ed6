"""Request and response models of the HTTP API (they are also its OpenAPI schema).

Requests that create studies take :class:`studies.spec.StudySpec` itself, so the API
accepts exactly what the CLI accepts; a comparison takes the same spec plus its ``arms``
(:class:`ComparisonRequest`). Everything else describes responses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from service.storage import StudyStatus
from shrinknets_core.errors import ConfigError
from studies.arms import ARMS, check_arms
from studies.spec import StudySpec

__all__ = [
    "ARMS_ALLOWED",
    "ArmOut",
    "ComparisonCreated",
    "ComparisonDetail",
    "ComparisonOut",
    "ComparisonPage",
    "ComparisonRequest",
    "DatasetList",
    "DatasetOut",
    "ErrorBody",
    "ErrorOut",
    "FrontPoint",
    "HealthOut",
    "ProgressOut",
    "StudyCreated",
    "StudyDetail",
    "StudyOut",
    "StudyPage",
    "TrialOut",
    "TrialPage",
    "WorkerOut",
]


class ErrorBody(BaseModel):
    """One problem with a request."""

    code: str = Field(description="stable machine-readable code, e.g. validation_error")
    message: str = Field(description="what is wrong, the value and the fix")
    field: str | None = Field(None, description="dotted request field, e.g. search.n_trials")
    allowed: str | None = Field(None, description="the accepted range or values of the field")
    details: list[ErrorBody] | None = Field(None, description="every problem, when several")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def _as_utc(value: datetime) -> datetime:
    """The service's own rows hold naive UTC: mark them as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _local_as_utc(value: datetime) -> datetime:
    """Optuna stores trial times as naive local time of the process that wrote them (a
    worker); they are read as this machine's local time (workers and API share a zone)."""
    return value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time answered in RFC 3339 with its offset (UTC, ``…Z``)."""
TrialTime = Annotated[datetime, AfterValidator(_local_as_utc)]
"""An Optuna trial time, answered in UTC like :data:`UtcTime`."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "the request body is not UTF-8"),
        (401, "bearer token missing or wrong"),
        (403, "server is read-only, or it has no token and the client is not on its machine"),
        (404, "no such resource"),
        (422, "invalid input; names the field and the allowed range"),
        (503, "database unreachable"),
    )
}
"""Documented error responses shared by every route."""


class ProgressOut(BaseModel):
    """Trial counts of a study against its budget."""

    complete: int
    running: int
    failed: int
    pruned: int
    waiting: int
    budget: int
    done: int = Field(description="complete + pruned: trials counted against the budget")
    fraction: float = Field(
        description="done / budget, in [0, 1]; with a compute budget the largest of that, "
        "spent_macs / max_macs and spent_seconds / max_seconds (without done / budget when "
        "trials_bound is false)"
    )
    trials_bound: bool = Field(
        True, description="false when the trial count does not bound the study: a λ path "
        "with a compute budget goes on past its grid until the budget is spent"
    )
    spent_macs: float | None = Field(
        None, description="training MACs spent (running trials so far); null without a "
        "compute budget"
    )
    spent_seconds: float | None = Field(
        None, description="trainer seconds spent; null without a compute budget"
    )
    max_macs: float | None = Field(None, description="the spec's search.max_macs")
    max_seconds: float | None = Field(None, description="the spec's search.max_seconds")
    overshoot_macs: float | None = Field(
        None, description="MACs spent beyond max_macs by trials already running when it ran "
        "out (null without max_macs)"
    )


class StudyOut(BaseModel):
    """A study as listed."""

    id: str
    name: str = Field(description="the spec's name")
    study_name: str = Field(description="the Optuna study name (optuna studies --storage URL)")
    kind: str
    arm: str = Field(
        description="the arm the study runs (studies.arms: lambda, lambda_path, prune_path, width, "
        "width_hyperband, width_mo_asha, target_size); width with the Hyperband or MO-ASHA "
        "pruner is its own arm"
    )
    dataset: str
    status: StudyStatus
    n_trials: int
    comparison_id: str | None
    created_at: UtcTime
    finished_at: UtcTime | None = None
    error: str | None = None
    progress: ProgressOut | None = Field(None, description="null if the Optuna study is gone")
    links: dict[str, str]


class ModelOut(BaseModel):
    """The trained network a trial kept (download it from the trial's ``model`` route)."""

    available: bool
    formats: list[str] = Field(description="stored formats: torchscript, state_dict, onnx")
    bytes: dict[str, int] = Field(description="file size of each stored format")
    reason: str | None = Field(default=None, description="why no network is available")


class TrialOut(BaseModel):
    """One Optuna trial with the results the worker stored as user attributes."""

    number: int
    state: str
    values: list[float | None] | None = Field(description="objective values, in spec order")
    params: dict[str, Any] = Field(description="the sampled parameters (λ or widths)")
    attrs: dict[str, Any] = Field(description="results: params, final_widths, cost, ...")
    datetime_start: TrialTime | None
    datetime_complete: TrialTime | None
    duration_s: float | None
    model: ModelOut = Field(description="the trial's trained network, when one was kept")


class FrontPoint(BaseModel):
    """One point of the (validation loss, parameter count) Pareto front."""

    trial_number: int
    val_loss: float
    params: int


class StudyDetail(StudyOut):
    """A study with its spec, best trials and Pareto front."""

    spec: dict[str, Any]
    notes: list[str] = Field(
        default_factory=list, description="settings of the spec its search does not use"
    )
    best_trials: list[TrialOut] = Field(
        description="lowest validation loss (single objective) or Optuna's best trials"
    )
    pareto_front: list[FrontPoint]


class StudyCreated(BaseModel):
    """Answer to POST /studies."""

    id: str
    name: str
    study_name: str
    kind: str
    status: str
    links: dict[str, str]
    notes: list[str] = Field(
        default_factory=list, description="settings of the spec its search does not use"
    )


class StudyPage(BaseModel):
    """One page of studies."""

    items: list[StudyOut]
    total: int
    offset: int
    limit: int


class TrialPage(BaseModel):
    """One page of a study's trials, by trial number."""

    items: list[TrialOut]
    total: int
    offset: int
    limit: int


ARMS_ALLOWED = "at least 2 different arms of: " + ", ".join(ARMS)
"""The ``allowed`` text of an error about ``arms``."""


class ComparisonRequest(StudySpec):
    """Body of POST /comparisons: the shared :class:`StudySpec` and the arms to run on it.

    A body without ``arms`` (the spec alone) runs λ search against width search (a λ path
    against width search when ``search.kind`` is ``lambda_path``).
    """

    arms: list[str] | None = Field(
        None,
        description="at least 2 different arms, in display order, of: lambda, lambda_path, "
        "prune_path, width, width_hyperband, width_mo_asha (default: lambda and width; "
        "lambda_path and width when search.kind is lambda_path)",
        examples=[["lambda", "width", "width_hyperband"]],
        json_schema_extra={"allowed": ARMS_ALLOWED},
    )

    @staticmethod
    def problems_of(body: Any) -> dict[str, str]:
        """What is wrong with a raw body's ``arms`` (unknown, repeated, fewer than 2), by
        field, for an answer about a body that failed validation for other reasons: one
        answer names every problem (a valid body's arms are checked with the server's
        limits, ``service.api._comparison_checks``)."""
        arms = body.get("arms") if isinstance(body, dict) else None
        if arms is None:
            return {}
        try:
            check_arms([str(a) for a in arms] if isinstance(arms, list) else [str(arms)])
        except ConfigError as e:
            return {e.field or "arms": e.detail}
        return {}

    def shared_spec(self) -> StudySpec:
        """The spec without ``arms`` (what every arm's spec is derived from)."""
        return StudySpec.model_validate(
            {name: getattr(self, name) for name in StudySpec.model_fields}
        )


class ArmOut(BaseModel):
    """One arm of a comparison and its study."""

    arm: str = Field(description="lambda, lambda_path, prune_path, width, width_hyperband or "
                     "width_mo_asha")
    label: str = Field(description="what people read, e.g. 'width search + Hyperband'")
    colour: str = Field(description="the arm's CSS colour, the same on every figure and page")
    study: StudyOut


class ComparisonOut(BaseModel):
    """Studies (arms) run on one spec."""

    id: str
    name: str
    created_at: UtcTime
    status: StudyStatus = Field(
        description="cancelled when an arm was cancelled; queued or running while an arm "
        "is; else failed when an arm ended without a complete trial, finished otherwise"
    )
    arms: list[ArmOut] = Field(description="every arm, in display order")
    lambda_study: StudyOut | None = Field(
        None, description="the λ arm's study (lambda, else lambda_path), if any; see arms"
    )
    width_study: StudyOut | None = Field(
        None, description="the width arm's study, if any; see arms"
    )
    links: dict[str, str]


class ComparisonDetail(ComparisonOut):
    """A comparison with its spec and metrics (``studies.compare_studies``)."""

    spec: dict[str, Any]
    metrics: dict[str, Any] = Field(
        description="Comparison.to_dict(): per arm (arms[], in display order) the Pareto "
        "front, useful-region and raw hypervolume, compute share to the level, readouts and "
        "curve; the baseline, reference, level and sensitivity"
    )


class ComparisonCreated(BaseModel):
    """Answer to POST /comparisons."""

    id: str
    name: str
    arms: dict[str, str] = Field(description="arm → study id, in display order")
    lambda_study_id: str | None = Field(
        None, deprecated=True, description="the λ arm's study id, if any; deprecated since "
        "0.1.0 (read `arms`), removed in 0.3.0")
    width_study_id: str | None = Field(
        None, deprecated=True, description="the width arm's study id, if any; deprecated "
        "since 0.1.0 (read `arms`), removed in 0.3.0")
    links: dict[str, str]
    notes: list[str] = Field(
        default_factory=list, description="settings of an arm's spec its search does not use"
    )


class ComparisonPage(BaseModel):
    """One page of comparisons."""

    items: list[ComparisonOut]
    total: int
    offset: int
    limit: int


class DatasetOut(BaseModel):
    """A dataset a spec can name: bundled with the package or uploaded."""

    name: str
    origin: Literal["bundled", "uploaded"]
    task: str | None
    n_rows: int | None
    n_features: int | None
    n_outputs: int | None
    label: str
    stand_in_for: str | None = None
    source: str | None = None
    licence: str | None = None
    requires_file: bool = False
    size_bytes: int | None = None
    spec: dict[str, Any] = Field(description="what to put in a StudySpec's 'dataset' field")


class DatasetList(BaseModel):
    """Every dataset a study can use."""

    items: list[DatasetOut]


class WorkerOut(BaseModel):
    """A worker process seen by heartbeat."""

    worker_id: str
    host: str
    device: str
    last_seen: UtcTime | None = None
    study_id: str | None = None
    trial_number: int | None = None


class HealthOut(BaseModel):
    """Answer to GET /healthz (503 with an error body when the database is unreachable)."""

    status: Literal["ok"]
    storage: str = Field(description="database backend, e.g. sqlite or postgresql")
    schema_version: int | None = None
    workers: list[WorkerOut]
