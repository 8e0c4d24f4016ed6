"""Checks a posted StudySpec must pass on this server, beyond the spec's own validation.

* Deployment limits (``settings.max_width`` ...) tighter than ``StudySpec``'s constants.
* The dataset must be one the workers can load *and* that the client may name: a
  bundled registry name, or an upload of this server. A client never chooses a file
  path on the server: ``dataset.path`` may only name an uploaded dataset (by name, file
  name or its full path), and is rewritten to that upload's absolute path.
* A compute budget must afford one trial: ``search.max_macs`` at least
  ``studies.budget.min_trial_macs`` on the spec's dataset (:func:`check_compute_budget`;
  for a comparison, of every arm's spec: ``check_spec(..., arm_specs=...)``, the largest
  minimum counts). ``search.max_seconds`` cannot be checked up front (it depends on the
  device); the spec only requires it to be positive.
* ``search.n_trials`` may be null when a compute budget is set; the study's trial cap is
  then ``MAX_TRIALS`` lowered to this server's ``max_trials`` (the routers pass
  ``trial_cap=settings.max_trials`` to the scheduler, ``trial_cap_of``), and the
  stored spec keeps ``n_trials: null``.

Every violation is reported at once, each naming its field and the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from service.api._uploads import datasets_dir, find_upload, list_uploads
from service.api.errors import ApiError, ErrorItem
from service.limits import LIMITED_FIELDS, effective_limits
from service.settings import Settings
from shrinknets_core.datasets import list_datasets
from shrinknets_core.errors import ShrinkNetsError
from studies.spec import StudySpec

__all__ = ["check_compute_budget", "check_spec"]


def _limit_items(spec: StudySpec, settings: Settings) -> list[ErrorItem]:
    limits = effective_limits(settings)
    checks: list[tuple[str, float, float]] = [
        ("architecture.max_width", spec.architecture.max_width, 1),
        ("architecture.depth", spec.architecture.depth, 1),
        ("training.epochs", spec.training.epochs, 1),
    ]
    if spec.search.n_trials is not None:  # None: the compute budget decides (docstring)
        checks.append(("search.n_trials", spec.search.n_trials, 1))
    path = spec.search.path
    for field, value, low in (
        ("search.epochs_per_step", spec.search.epochs_per_step, 1),
        ("search.path.warmup_epochs", path.warmup_epochs, 0),
        ("search.path.epochs_per_step", path.epochs_per_step, 0.05),
        ("search.path.finetune_epochs", path.finetune_epochs, 0),
    ):
        if value is not None:
            checks.append((field, value, low))
    items = []
    for field, value, low in checks:
        # every other epoch count is bounded like training.epochs
        limited = field if field in LIMITED_FIELDS else "training.epochs"
        limit, setting = limits[limited], LIMITED_FIELDS[limited][0]
        if value > limit:
            items.append(
                ErrorItem(
                    "limit_exceeded",
                    f"{field}: {value} is over this server's limit of {limit}; lower it "
                    f"(the operator sets the limit with SHRINKNETS_{setting.upper()})",
                    field=field,
                    allowed=f"{low:g}..{limit}",
                )
            )
    return items


def _resolve_upload(spec: StudySpec, settings: Settings) -> tuple[str | None, ErrorItem | None]:
    """The absolute path of the upload ``dataset.path`` names, or an error item."""
    given = spec.dataset.path
    assert given is not None
    folder = datasets_dir(settings)
    candidate = Path(given)
    uploads = list_uploads(settings)
    for meta in uploads:
        stored = Path(meta["path"])
        if given in (meta["name"], stored.name) or (
            candidate.is_absolute() and candidate.resolve() == stored
        ):
            return str(stored), None
    names = ", ".join(m["name"] for m in uploads) or "none yet"
    return None, ErrorItem(
        "validation_error",
        f"dataset.path: {given!r} is not a dataset uploaded to this server (uploads live in "
        f"{folder.name}/ of the data directory; other server paths cannot be read); upload "
        "the file with POST /api/v1/datasets and use the name it returns",
        field="dataset.path",
        allowed=f"an uploaded dataset ({names})",
    )


def check_compute_budget(specs: list[StudySpec]) -> list[ErrorItem]:
    """Check that ``search.max_macs`` affords at least one trial of every spec.

    Args:
        specs: The study's spec, or every arm's spec of a comparison
            (``studies.arms.arm_spec``); they share the budget, so the least allowed is
            the largest one-trial cost over them. Their dataset must already be resolved
            (:func:`check_spec`'s answer).

    Returns:
        An error item naming ``search.max_macs`` and the least it may be, or nothing
        (also when no spec has ``max_macs``, or the dataset cannot be read here).
    """
    budgeted = [s for s in specs if s.search.max_macs is not None]
    if not budgeted:
        return []
    from studies.budget import least_trial_macs  # loads torch: only for budgeted specs

    costs = [c for c in map(least_trial_macs, budgeted) if c is not None]
    if not costs:
        return []
    least = math.ceil(max(costs))  # MACs are whole numbers; never round the minimum down
    given = min(s.search.max_macs for s in budgeted if s.search.max_macs is not None)
    if given >= least:
        return []
    return [
        ErrorItem(
            "validation_error",
            f"search.max_macs: {given:.4g} MACs do not pay for one trial of this spec on its "
            f"dataset (at least {least} training MACs: the smallest network for the epochs "
            "one trial trains); raise search.max_macs to at least that, or train fewer "
            "epochs, fewer rows (dataset.max_rows) or a narrower network",
            field="search.max_macs",
            allowed=f">= {least}",
        )
    ]


def _dataset_options_items(spec: StudySpec) -> list[ErrorItem]:
    """Load the dataset once when the spec chooses its targets or task, so a column that
    does not exist is a 422 now instead of a failure of every trial later."""
    dataset = spec.dataset
    if dataset.target_columns is None and dataset.task is None:
        return []
    from studies.objectives import load_study_data

    try:
        load_study_data(spec)  # cached per process; what the workers will load
    except (ShrinkNetsError, OSError, ValueError) as e:
        field = "dataset.target_columns" if dataset.target_columns is not None else "dataset.task"
        return [
            ErrorItem(
                "validation_error", f"{field}: {e}", field=field,
                allowed="columns of the dataset (GET /api/v1/datasets lists them)",
            )
        ]
    return []


def check_spec(
    spec: StudySpec, settings: Settings, *, arm_specs: Sequence[StudySpec] | None = None
) -> StudySpec:
    """Apply this server's limits and resolve the dataset; return the spec to store.

    Args:
        spec: A spec that passed ``StudySpec`` validation.
        settings: Supplies the limits and the data directory.
        arm_specs: A comparison's arm specs (``studies.arms.plan_comparison``): the
            compute budget must then pay for one trial of each instead of ``spec``'s own
            kind.

    Returns:
        ``spec``, with ``dataset.path`` set to the upload's absolute path when the dataset
        is an upload.

    Raises:
        ApiError: 422 listing every field over its limit, an unusable dataset, target
            columns or a task the dataset cannot give, or a
            ``search.max_macs`` too small for one trial (:func:`check_compute_budget`,
            checked once the rest is valid; a comparison checks its arms' specs with it).
    """
    items = _limit_items(spec, settings)
    dataset = spec.dataset
    resolved: str | None = None
    if dataset.path is not None:
        resolved, problem = _resolve_upload(spec, settings)
        if problem is not None:
            items.append(problem)
    else:
        bundled = {info.name: info for info in list_datasets()}
        upload = find_upload(settings, dataset.name)
        info = bundled.get(dataset.name)
        if upload is not None and info is None:
            resolved = str(upload["path"])
        elif info is None or getattr(info, "requires_file", False):
            usable = [n for n, i in bundled.items() if not getattr(i, "requires_file", False)]
            usable += [m["name"] for m in list_uploads(settings)]
            why = (
                f"{dataset.name!r} needs its data file, which this server does not have; "
                "upload it with POST /api/v1/datasets"
                if info is not None
                else f"{dataset.name!r} is neither a bundled nor an uploaded dataset; "
                "see GET /api/v1/datasets"
            )
            items.append(
                ErrorItem(
                    "validation_error",
                    f"dataset.name: {why}",
                    field="dataset.name",
                    allowed="one of: " + ", ".join(usable),
                )
            )
    if items:
        raise ApiError.from_items(422, items)
    if resolved is not None and resolved != dataset.path:
        spec = spec.model_copy(update={"dataset": dataset.model_copy(update={"path": resolved})})
    items = _dataset_options_items(spec)
    if items:
        raise ApiError.from_items(422, items)
    budgeted = [spec] if arm_specs is None else [
        s.model_copy(update={"dataset": spec.dataset}) for s in arm_specs
    ]
    items = check_compute_budget(budgeted)
    if items:
        raise ApiError.from_items(422, items)
    return spec
