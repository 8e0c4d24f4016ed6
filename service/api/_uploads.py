"""Uploaded datasets: safe names, bounded atomic writes, validation with the core loaders.

An upload lives in ``<data_dir>/datasets/`` as ``<name><suffix>`` plus a ``<name>.json``
sidecar with its description (so listing never re-reads data). The server picks the
file name: the user's ``name`` must match :data:`NAME_RE` and the suffix must be one the
loaders read, so a request can never choose a path (no traversal). The file is streamed
to a hidden temporary file, size-checked, loaded with
:func:`shrinknets_core.datasets.load_dataset`, and only then linked to its final name
(atomic, and it never replaces an existing dataset).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from service.api.errors import ApiError
from service.settings import Settings
from shrinknets_core.datasets import SUPPORTED_SUFFIXES, dataset_names, load_dataset
from shrinknets_core.errors import ConfigError, DatasetError

__all__ = [
    "NAME_RE",
    "UploadRequest",
    "datasets_dir",
    "find_upload",
    "list_uploads",
    "parse_target_columns",
    "store_upload",
]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_NAME_RULE = "1 to 64 letters, digits, '_' or '-', starting with a letter or digit"
_CHUNK = 1 << 20


def datasets_dir(settings: Settings) -> Path:
    """``<data_dir>/datasets`` as an absolute path (not created here)."""
    return (Path(settings.data_dir) / "datasets").resolve()


def _suffix(filename: str) -> str | None:
    lower = filename.lower()
    longest_first = sorted(SUPPORTED_SUFFIXES, key=len, reverse=True)
    return next((s for s in longest_first if lower.endswith(s)), None)


def parse_target_columns(text: str | None) -> list[str | int] | None:
    """``"a, b"`` → ``["a", "b"]``; integers (``"-1"``) become column indices; empty → None."""
    if text is None or not text.strip():
        return None
    out: list[str | int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        out.append(int(part) if re.fullmatch(r"-?\d+", part) else part)
    return out or None


def _disk_error(e: OSError) -> ApiError:
    full = e.errno in (errno.ENOSPC, errno.EDQUOT)
    reason = (
        "the server's disk is full" if full else f"the server cannot write files ({e.strerror})"
    )
    return ApiError(
        507,
        "insufficient_storage",
        f"the dataset was not stored: {reason}; nothing was kept. Ask the operator to free "
        "space in or fix the permissions of the data directory (SHRINKNETS_DATA_DIR)",
    )


class UploadRequest:
    """What a client sent: the stream, its file name and the optional form fields."""

    def __init__(
        self,
        stream: IO[bytes],
        filename: str,
        *,
        name: str | None,
        task: str | None,
        target_columns: list[str | int] | None,
    ) -> None:
        self.stream = stream
        self.filename = filename
        self.name = name
        self.task = task
        self.target_columns = target_columns


def _check_name(request: UploadRequest, suffix: str) -> str:
    if request.name:
        name = request.name.strip()
        if not NAME_RE.match(name):
            raise ApiError(
                422, "validation_error",
                f"name: {request.name!r} is not a valid dataset name; use {_NAME_RULE}",
                field="name", allowed=_NAME_RULE,
            )
    else:
        stem = Path(request.filename).name[: -len(suffix)]
        name = re.sub(r"[^A-Za-z0-9_-]", "_", stem).lstrip("_-")[:64] or "dataset"
    if name in dataset_names():
        raise ApiError(
            409, "conflict",
            f"name: {name!r} is a bundled dataset; choose another name for the upload",
            field="name",
        )
    return name


def _write_bounded(stream: IO[bytes], target: Path, limit: int) -> int:
    size = 0
    with open(target, "xb") as out:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413, "payload_too_large",
                    f"file: the upload is larger than this server's limit of {limit} bytes; "
                    "upload a smaller (e.g. gzip-compressed .csv.gz) file",
                    field="file", allowed=f"<= {limit} bytes",
                )
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


#: An upload may decompress (``.gz``, ``.npz``) to at most this many times its size limit,
#: so a small zip or gzip bomb is refused before it is inflated in the API process (a
#: gzip file is first streamed through with a running count, one chunk in memory).
MAX_EXPANSION = 10
PARSE_WAIT_S = 60.0
"""How long an upload waits for a free parser before 503 (see ``_parsing``)."""

_parsers: dict[int, threading.BoundedSemaphore] = {}
_parsers_lock = threading.Lock()


@contextlib.contextmanager
def _parsing(settings: Settings) -> Iterator[None]:
    """Hold one of ``settings.upload_parsers`` parse slots of this process: parsing an
    upload holds up to ``MAX_EXPANSION × max_upload_bytes`` of text, so parallel uploads
    queue instead of multiplying the API's memory.

    Raises:
        ApiError: 503 with ``Retry-After`` when no slot frees up within ``PARSE_WAIT_S``.
    """
    with _parsers_lock:
        slots = _parsers.setdefault(settings.upload_parsers,
                                    threading.BoundedSemaphore(settings.upload_parsers))
    if not slots.acquire(timeout=PARSE_WAIT_S):
        raise ApiError(
            503, "busy", f"{settings.upload_parsers} upload(s) are being checked; retry "
            "in a minute", headers={"Retry-After": "60"},
        )
    try:
        yield
    finally:
        slots.release()


def _validate(tmp: Path, request: UploadRequest, name: str, *, max_bytes: int) -> dict[str, Any]:
    try:
        data = load_dataset(
            tmp, target_columns=request.target_columns, task=request.task,  # type: ignore[arg-type]
            max_bytes=max_bytes,
        )
    except (DatasetError, ConfigError) as e:
        message = str(e).replace(str(tmp), request.filename).replace(tmp.name, request.filename)
        field = "target_columns" if isinstance(e, ConfigError) else "file"
        message = message.removeprefix(f"{field}: ")
        raise ApiError(422, "invalid_dataset", f"{field}: {message}", field=field) from e
    return {
        "name": name,
        "task": data.task,
        "n_rows": data.n_rows,
        "n_features": data.n_features,
        "n_outputs": data.n_outputs,
        "target_columns": request.target_columns,
        "original_filename": Path(request.filename).name,
    }


def store_upload(request: UploadRequest, settings: Settings) -> dict[str, Any]:
    """Validate and store one uploaded file.

    Args:
        request: The upload (stream, file name, form fields).
        settings: Supplies ``data_dir`` and ``max_upload_bytes``.

    Returns:
        The stored dataset's description (also written to its ``.json`` sidecar), with
        ``path`` and ``size_bytes``.

    Raises:
        ApiError: 422 bad name/suffix/content, 409 name taken, 413 too large, 507 disk
            error. Nothing is left behind on any error.
    """
    suffix = _suffix(request.filename)
    if suffix is None:
        allowed = ", ".join(SUPPORTED_SUFFIXES)
        raise ApiError(
            422, "validation_error",
            f"file: {Path(request.filename).name!r} has an unsupported type; "
            f"upload one of {allowed}",
            field="file", allowed=allowed,
        )
    name = _check_name(request, suffix)
    folder = datasets_dir(settings)
    tmp = folder / f".upload-{secrets.token_hex(8)}{suffix}"
    final = folder / f"{name}{suffix}"
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            size = _write_bounded(request.stream, tmp, settings.max_upload_bytes)
        except OSError as e:
            raise _disk_error(e) from e
        with _parsing(settings):
            meta = _validate(tmp, request, name,
                             max_bytes=MAX_EXPANSION * settings.max_upload_bytes)
        meta.update(path=str(final), size_bytes=size, suffix=suffix)
        if find_upload(settings, name) is not None:
            raise ApiError(
                409, "conflict",
                f"name: a dataset named {name!r} was already uploaded; choose another name",
                field="name",
            )
        try:
            sidecar_tmp = tmp.with_suffix(".json")
            sidecar_tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
            os.link(tmp, final)  # fails if the name was taken meanwhile: never overwrites
            os.replace(sidecar_tmp, folder / f"{name}.json")
        except FileExistsError as e:
            raise ApiError(
                409, "conflict", f"name: a dataset named {name!r} already exists", field="name"
            ) from e
        except OSError as e:
            with contextlib.suppress(OSError):
                final.unlink()
            raise _disk_error(e) from e
    finally:
        for leftover in (tmp, tmp.with_suffix(".json")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return meta


def list_uploads(settings: Settings) -> list[dict[str, Any]]:
    """Descriptions of every uploaded dataset whose data file is present, by name."""
    folder = datasets_dir(settings)
    if not folder.is_dir():
        return []
    out = []
    for sidecar in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name = meta.get("name")
        if not (isinstance(name, str) and NAME_RE.match(name)):
            continue
        data_file = folder / f"{name}{meta.get('suffix', '')}"
        if data_file.is_file():
            meta["path"] = str(data_file)
            out.append(meta)
    return out


def find_upload(settings: Settings, name: str) -> dict[str, Any] | None:
    """The uploaded dataset called ``name``, or None."""
    if not NAME_RE.match(name):
        return None
    return next((m for m in list_uploads(settings) if m["name"] == name), None)
