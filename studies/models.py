"""Trained networks kept as Optuna artifacts of their trials.

When a trial completes, :class:`ModelKeeper` exports its network in every format of
:mod:`shrinknets_core.export` (raw feature rows in, the training split's standardisation
built in) and links each file to the trial as an Optuna artifact — what
``optuna.artifacts.get_all_artifact_meta`` and optuna-dashboard list. The trial's user
attribute ``model`` says what was kept: ``{"available": true, "formats": {format:
{"artifact_id", "filename", "bytes"}}}`` or ``{"available": false, "reason": ...}``.

Order of a save: every file is written to the store first (atomically on a file system,
:class:`AtomicFileSystemArtifactStore`), then linked to the trial, then the ``model``
attribute is set. A crash part-way leaves at most an unlinked file, never a linked half
file; a failed write (disk full) removes what was written and leaves the trial to complete
with ``available: false`` and the reason. Pruned, failed and stopped trials keep nothing.

Keep modes (:data:`KEEP_MODES`): ``all``; ``pareto`` — only networks on the (validation
loss, parameters) front of the study's complete trials: a network dominated when its trial
ends is not stored, and one dominated later is removed (its trial number is added to the
study's ``models_removed`` attribute); ``none``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, get_args

import optuna
from optuna.artifacts import ArtifactMeta, FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from shrinknets_core.export.formats import FORMATS, SUFFIXES
from studies.spec import StudySpec

if TYPE_CHECKING:  # torch: loaded when a network is exported, not to open a keeper
    from shrinknets_core.datasets import Dataset
    from shrinknets_core.network.models import ShrinkNet

__all__ = [
    "KEEP_MODES",
    "MIMETYPES",
    "MODEL_ATTR",
    "REMOVED_ATTR",
    "AtomicFileSystemArtifactStore",
    "KeepMode",
    "ModelKeeper",
    "artifact_ids",
    "model_info",
    "open_model",
    "removed_models",
]

_log = logging.getLogger(__name__)

KeepMode = Literal["all", "pareto", "none"]
KEEP_MODES: tuple[str, ...] = get_args(KeepMode)
MODEL_ATTR = "model"
"""Trial user attribute: what :class:`ModelKeeper` kept (module docstring)."""
REMOVED_ATTR = "models_removed"
"""Study user attribute: trial numbers whose networks ``pareto`` mode removed later."""
MIMETYPES = {
    "torchscript": "application/octet-stream",
    "state_dict": "application/octet-stream",
    "onnx": "application/onnx",
}
_ARTIFACT_KEY = "artifacts:"
"""Optuna's system-attribute prefix of artifact metadata (``optuna.artifacts``); Optuna has
no public call that links an already written file, so :func:`_link` writes the same entry
``upload_artifact`` writes (a test checks ``get_all_artifact_meta`` reads it back)."""
METADATA_VERSION = 1


class AtomicFileSystemArtifactStore(FileSystemArtifactStore):
    """``FileSystemArtifactStore`` whose writes appear whole or not at all.

    Each file is written under a temporary name in the same folder and renamed into place
    (``os.replace``), so a reader never opens a half-written artifact. The folder is
    created when missing.
    """

    def __init__(self, base_path: str | Path) -> None:
        super().__init__(base_path)
        Path(base_path).mkdir(parents=True, exist_ok=True)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        target = self._get_filepath(artifact_id)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{artifact_id}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := content_body.read(1 << 20):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _version() -> str:
    try:
        return importlib_metadata.version("shrinknets")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def model_metadata(
    spec: StudySpec, data: Dataset, model: ShrinkNet, *, study_name: str, trial_number: int | None,
    attrs: dict[str, Any], params: dict[str, Any],
) -> dict[str, Any]:
    """What a model file says about itself (JSON types only)."""
    classify = data.task == "classification"
    return {
        "metadata_version": METADATA_VERSION,
        "shrinknets_version": _version(),
        "study": study_name,
        "trial_number": trial_number,
        "dataset": data.label,
        "task": data.task,
        "n_features": data.n_features,
        "n_outputs": data.n_outputs,
        "feature_names": list(data.feature_names) if data.feature_names else None,
        "target_names": list(data.target_names) if data.target_names else None,
        "class_names": list(data.class_names) if classify and data.class_names else None,
        "image_shape": list(data.image_shape) if data.image_shape else None,
        "input": "raw feature rows, columns in training order (feature_names); pass "
                 "float64 for bit-exact standardisation",
        "output": "class logits: the label is class_names[argmax]" if classify
                  else "targets in the data's own units (target_names order)",
        "widths": list(model.alive_widths()),
        "model_spec": model.spec.to_dict(),
        "architecture": spec.architecture.model_dump(mode="json"),
        "training": spec.training.model_dump(mode="json"),
        "params": params,
        "metrics": {k: attrs.get(k) for k in (
            "val_loss", "val_accuracy", "test_loss", "test_accuracy", "params", "cost_macs"
        )},
    }


def _file_name(study_name: str, label: str, fmt: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    return f"{safe}-{label}{SUFFIXES[fmt]}"


def _error_text(error: BaseException) -> str:
    """A reason users can read that keeps server paths out (``OSError`` messages name them)."""
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return f"{type(error).__name__}: {error}"


@dataclass
class ModelKeeper:
    """Stores the networks of completing trials in an Optuna artifact store.

    Args:
        store: any Optuna artifact store (:class:`AtomicFileSystemArtifactStore`,
            ``optuna.artifacts.Boto3ArtifactStore`` …).
        keep: ``all``, ``pareto`` or ``none`` (module docstring).
        formats: the formats written (default all of ``shrinknets_core.export.FORMATS``).
    """

    store: Any
    keep: KeepMode = "all"
    formats: tuple[str, ...] = FORMATS

    def save_trial(
        self, trial: optuna.Trial, spec: StudySpec, data: Dataset, model: ShrinkNet,
        attrs: dict[str, Any], values: Sequence[float],
    ) -> dict[str, Any]:
        """Keep the network of a RUNNING trial about to be told COMPLETE; returns ``model``.

        Never raises for a storage failure: the reason goes into the ``model`` attribute
        and the trial completes as usual.
        """
        skip = self._skip_reason(trial.study, attrs, values)
        if skip is not None:
            info: dict[str, Any] = {"available": False, "reason": skip}
        else:
            info, metas = self._write(spec, data, model, attrs, trial.params,
                                      study_name=trial.study.study_name,
                                      number=trial.number, label=f"trial{trial.number}")
            if metas:
                for key, value in metas.items():
                    # Optuna's private trial id: Trial lost its public system-attr setter
                    # in Optuna 4, and artifact metadata is no user attr (pinned: pyproject)
                    trial.storage.set_trial_system_attr(trial._trial_id, key, value)
        trial.set_user_attr(MODEL_ATTR, info)
        return info

    def files_for_new_trial(
        self, study: optuna.Study, spec: StudySpec, data: Dataset, model: ShrinkNet,
        attrs: dict[str, Any], params: dict[str, Any], values: Sequence[float], *, label: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(model attribute, system attributes)`` for a trial built with
        ``optuna.trial.create_trial`` and added with ``study.add_trial`` (λ path steps)."""
        skip = self._skip_reason(study, attrs, values)
        if skip is not None:
            return {"available": False, "reason": skip}, {}
        return self._write(spec, data, model, attrs, params, study_name=study.study_name,
                           number=None, label=label)

    def _skip_reason(
        self, study: optuna.Study, attrs: dict[str, Any], values: Sequence[float]
    ) -> str | None:
        if self.keep == "none":
            return "not kept: the service keeps no networks (SHRINKNETS_KEEP_MODELS=none)"
        if not all(math.isfinite(v) for v in values):
            return "not kept: the trial's loss is not finite"
        if self.keep == "pareto" and _dominated(attrs, _complete(study)):
            return ("not kept: off the Pareto front when it finished "
                    "(SHRINKNETS_KEEP_MODELS=pareto)")
        return None

    def _write(
        self, spec: StudySpec, data: Dataset, model: ShrinkNet, attrs: dict[str, Any],
        params: dict[str, Any], *, study_name: str, number: int | None, label: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from shrinknets_core.export import Preprocessing, export_model

        meta = model_metadata(spec, data, model, study_name=study_name, trial_number=number,
                              attrs=attrs, params=dict(params))
        written: list[str] = []
        formats: dict[str, Any] = {}
        links: dict[str, Any] = {}
        try:
            with tempfile.TemporaryDirectory() as tmp:
                files = export_model(model, Preprocessing.of_dataset(data), meta, tmp,
                                     formats=self.formats)
                for fmt, path in files.items():
                    artifact_id = str(uuid.uuid4())
                    with path.open("rb") as handle:
                        self.store.write(artifact_id, handle)
                    written.append(artifact_id)
                    name = _file_name(study_name, label, fmt)
                    formats[fmt] = {"artifact_id": artifact_id, "filename": name,
                                    "bytes": path.stat().st_size}
                    links[_ARTIFACT_KEY + artifact_id] = json.dumps(asdict(ArtifactMeta(
                        artifact_id=artifact_id, filename=name, mimetype=MIMETYPES[fmt],
                        encoding=None,
                    )))
        except Exception as e:  # disk full, store unreachable, exporter error
            _log.warning("study %s %s: network not stored: %s", study_name, label, e)
            for artifact_id in written:
                with contextlib.suppress(Exception):
                    self.store.remove(artifact_id)
            return {"available": False, "reason": f"could not store the network: "
                    f"{_error_text(e)}"}, {}
        return {"available": True, "formats": formats}, links

    def prune(self, study: optuna.Study) -> list[int]:
        """``pareto`` mode: remove the networks now off the front; returns their trials.

        Idempotent; run it under a per-study lock where several workers share a study.
        """
        if self.keep != "pareto":
            return []
        complete = _complete(study)
        removed = set(study.user_attrs.get(REMOVED_ATTR) or [])
        newly = []
        for t in complete:
            info = t.user_attrs.get(MODEL_ATTR) or {}
            if not info.get("available") or t.number in removed:
                continue
            if _dominated(t.user_attrs, [o for o in complete if o.number != t.number]):
                for entry in info.get("formats", {}).values():
                    with contextlib.suppress(ArtifactNotFound):
                        self.store.remove(entry["artifact_id"])
                newly.append(t.number)
        if newly:
            study.set_user_attr(REMOVED_ATTR, sorted(removed | set(newly)))
        return newly


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _point(attrs: dict[str, Any]) -> tuple[float, float] | None:
    loss, size = attrs.get("val_loss"), attrs.get("params")
    if loss is None or size is None or not math.isfinite(float(loss)):
        return None
    return float(loss), float(size)


def _dominated(attrs: dict[str, Any], others: Iterable[FrozenTrial]) -> bool:
    """True when another complete trial is at least as good on (val loss, params) and
    better on one."""
    mine = _point(attrs)
    if mine is None:
        return True
    points = (p for t in others if (p := _point(t.user_attrs)) is not None)
    return any(p[0] <= mine[0] and p[1] <= mine[1] and p != mine for p in points)


def model_info(trial: FrozenTrial, removed: Iterable[int] = ()) -> dict[str, Any]:
    """What the API shows of a trial's network: ``available``, ``formats``, ``bytes`` (per
    format) and ``reason`` when it is not available."""
    info = trial.user_attrs.get(MODEL_ATTR)
    if trial.state != TrialState.COMPLETE:
        return {"available": False, "formats": [], "bytes": {},
                "reason": "only complete trials keep their network"}
    if not info:
        return {"available": False, "formats": [], "bytes": {},
                "reason": "no network was stored for this trial"}
    if trial.number in set(removed):
        return {"available": False, "formats": [], "bytes": {},
                "reason": "removed: a later trial dominates it (SHRINKNETS_KEEP_MODELS=pareto)"}
    if not info.get("available"):
        return {"available": False, "formats": [], "bytes": {}, "reason": info.get("reason")}
    formats = info.get("formats", {})
    return {"available": True, "formats": sorted(formats),
            "bytes": {f: int(e.get("bytes", 0)) for f, e in formats.items()}, "reason": None}


def removed_models(study: optuna.Study) -> tuple[int, ...]:
    """Trials whose network ``pareto`` mode removed after they finished."""
    return tuple(study.user_attrs.get(REMOVED_ATTR) or ())


def open_model(
    store: Any, trial: FrozenTrial, fmt: str, removed: Iterable[int] = ()
) -> tuple[BinaryIO, str, str]:
    """``(reader, filename, mimetype)`` of one stored format of a trial's network.

    Raises:
        LookupError: the trial has no such network (the message says why).
    """
    info = model_info(trial, removed)
    if not info["available"]:
        raise LookupError(str(info["reason"]))
    entry = trial.user_attrs[MODEL_ATTR]["formats"].get(fmt)
    if entry is None:
        raise LookupError(
            f"trial {trial.number} has no {fmt} file; stored formats: {', '.join(info['formats'])}"
        )
    try:
        reader = store.open_reader(entry["artifact_id"])
    except ArtifactNotFound as e:
        raise LookupError(f"the {fmt} file of trial {trial.number} is missing from the "
                          "artifact store") from e
    return reader, str(entry["filename"]), MIMETYPES.get(fmt, "application/octet-stream")


def artifact_ids(study: optuna.Study) -> list[str]:
    """Every artifact linked to the study or any of its trials (for deleting the study)."""
    ids = [m.artifact_id for m in optuna.artifacts.get_all_artifact_meta(study)]
    for trial in study.get_trials(deepcopy=False):
        for key, value in trial.system_attrs.items():
            if key.startswith(_ARTIFACT_KEY) and value:
                ids.append(json.loads(value)["artifact_id"])
    return ids
