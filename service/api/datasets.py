"""``/datasets``: the bundled datasets and user uploads (CSV, NPZ, ARFF) a study can use."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from service.api._uploads import UploadRequest, list_uploads, parse_target_columns, store_upload
from service.api.deps import SettingsDep, WriteAccess
from service.api.errors import ApiError
from service.api.schemas import ERROR_RESPONSES, DatasetList, DatasetOut
from shrinknets_core.datasets import SUPPORTED_SUFFIXES, list_datasets

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)

_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the name is taken (bundled dataset or earlier upload)"},
    413: {"description": "the file is larger than the server's max_upload_bytes"},
    507: {"description": "the server could not write the file (disk full, permissions)"},
}


def _uploaded(meta: dict[str, Any]) -> DatasetOut:
    spec: dict[str, Any] = {"name": meta["name"], "path": meta["name"]}
    if meta.get("target_columns"):
        spec["target_columns"] = meta["target_columns"]
    if meta.get("task"):
        spec["task"] = meta["task"]
    return DatasetOut(
        name=meta["name"], origin="uploaded", task=meta.get("task"), n_rows=meta.get("n_rows"),
        n_features=meta.get("n_features"), n_outputs=meta.get("n_outputs"),
        label=f"{meta['name']} (uploaded {meta.get('original_filename', '')})".strip(),
        source="upload", size_bytes=meta.get("size_bytes"), spec=spec,
    )


@router.get("", response_model=DatasetList, name="list_datasets")
def list_all(settings: SettingsDep) -> DatasetList:
    """Bundled datasets (including those that need a user file) and this server's uploads."""
    items = [
        DatasetOut(
            name=info.name, origin="bundled", task=info.task, n_rows=info.n_rows,
            n_features=info.n_features, n_outputs=info.n_outputs, label=info.label,
            stand_in_for=info.stand_in_for, source=info.source, licence=info.licence,
            requires_file=info.requires_file, spec={"name": info.name},
        )
        for info in list_datasets()
    ]
    items += [_uploaded(meta) for meta in list_uploads(settings)]
    return DatasetList(items=items)


@router.post(
    "", status_code=201, response_model=DatasetOut, dependencies=[WriteAccess],
    name="upload_dataset", responses=_UPLOAD_ERRORS,
)
def upload(
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description=f"the data file: {', '.join(SUPPORTED_SUFFIXES)}")
    ],
    name: Annotated[
        str | None, Form(description="dataset name (default: from the file name)")
    ] = None,
    task: Annotated[
        str | None, Form(description="classification or regression (default: inferred)")
    ] = None,
    target_columns: Annotated[
        str | None,
        Form(description="comma-separated target column names or indices (default: last)"),
    ] = None,
) -> DatasetOut:
    """Upload a dataset; it is loaded once to validate it, then stored under the data dir.

    The answer's ``spec`` is what to put in a study spec's ``dataset`` field.
    """
    if task is not None and task not in ("classification", "regression"):
        raise ApiError(
            422, "validation_error", f"task: {task!r} is not classification or regression",
            field="task", allowed="one of: 'classification', 'regression'",
        )
    meta = store_upload(
        UploadRequest(
            file.file, file.filename or "upload", name=name, task=task,
            target_columns=parse_target_columns(target_columns),
        ),
        settings,
    )
    return _uploaded(meta)
