"""Checks a posted StudySpec must pass on this server, beyond the spec's own validation.

* Deployment limits (``settings.max_width`` ...) tighter than ``StudySpec``'s constants.
* The dataset must be one the workers can load *and* that the client may name: a
  bundled registry name, or an upload of this server. A client never chooses a file
  path on the server: ``dataset.path`` may only name an uploaded dataset (by name, file
  name or its full path), and is rewritten to that upload's absolute path.

Every violation is reported at once, each naming its field and the allowed range.
"""

from __future__ import annotations

from pathlib import Path

from service.api._uploads import datasets_dir, find_upload, list_uploads
from service.api.errors import ApiError, ErrorItem
from service.settings import Settings
from shrinknets_core.datasets import list_datasets
from studies.spec import StudySpec

__all__ = ["check_spec"]


def _limit_items(spec: StudySpec, settings: Settings) -> list[ErrorItem]:
    checks = [
        ("architecture.max_width", spec.architecture.max_width, "max_width", StudySpec.MAX_WIDTH),
        ("architecture.depth", spec.architecture.depth, "max_depth", StudySpec.MAX_DEPTH),
        ("training.epochs", spec.training.epochs, "max_epochs", StudySpec.MAX_EPOCHS),
        ("search.n_trials", spec.search.n_trials, "max_trials", StudySpec.MAX_TRIALS),
    ]
    if spec.search.epochs_per_step is not None:
        checks.append(
            ("search.epochs_per_step", spec.search.epochs_per_step, "max_epochs",
             StudySpec.MAX_EPOCHS)
        )
    items = []
    for field, value, setting, hard_limit in checks:
        server_limit = int(getattr(settings, setting))
        limit = min(server_limit, hard_limit)
        if value > limit:
            items.append(
                ErrorItem(
                    "limit_exceeded",
                    f"{field}: {value} is over this server's limit of {limit}; lower it "
                    f"(the operator sets the limit with SHRINKNETS_{setting.upper()})",
                    field=field,
                    allowed=f"1..{limit}",
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


def check_spec(spec: StudySpec, settings: Settings) -> StudySpec:
    """Apply this server's limits and resolve the dataset; return the spec to store.

    Args:
        spec: A spec that passed ``StudySpec`` validation.
        settings: Supplies the limits and the data directory.

    Returns:
        ``spec``, with ``dataset.path`` set to the upload's absolute path when the dataset
        is an upload.

    Raises:
        ApiError: 422 listing every field over its limit or an unusable dataset.
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
    return spec
