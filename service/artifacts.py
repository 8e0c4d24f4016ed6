"""Where trained networks and λ-path checkpoints are stored: one Optuna artifact store.

``SHRINKNETS_ARTIFACT_STORE`` chooses it (:func:`open_artifact_store`):

* empty (default): the folder ``<SHRINKNETS_DATA_DIR>/artifacts``;
* a folder path: that folder — on many machines, one shared file system (NFS …);
* ``s3://BUCKET``: an S3-compatible bucket through ``optuna.artifacts.Boto3ArtifactStore``
  (``pip install boto3``; credentials and ``AWS_ENDPOINT_URL`` — for MinIO and other
  S3-compatible servers — come from boto3's usual environment variables and files).

Every worker and the API must see the same store: a worker writes a trial's files, the
API serves them and removes them with their study.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna

from service.errors import ServiceError
from service.settings import Settings

__all__ = ["model_keeper", "open_artifact_store", "removing_artifacts"]

_log = logging.getLogger(__name__)


def open_artifact_store(settings: Settings) -> Any:
    """The Optuna artifact store ``settings.artifact_store`` names (module docstring).

    Raises:
        ServiceError: an ``s3://`` store without boto3 installed, or without a bucket.
    """
    target = settings.artifact_store.strip()
    if target.startswith("s3://"):
        bucket = target[len("s3://"):].strip("/")
        if not bucket or "/" in bucket:
            raise ServiceError(
                f"SHRINKNETS_ARTIFACT_STORE={target!r}: give a bucket only, as s3://BUCKET "
                "(objects are named by artifact id; use one bucket per service)"
            )
        try:
            import boto3
        except ImportError as e:
            raise ServiceError(
                "SHRINKNETS_ARTIFACT_STORE is an s3:// bucket but boto3 is not installed; "
                "pip install boto3 (or install shrinknets[s3])"
            ) from e
        from optuna.artifacts import Boto3ArtifactStore

        return Boto3ArtifactStore(bucket, client=boto3.client("s3"))
    from studies.models import AtomicFileSystemArtifactStore

    folder = Path(target).expanduser() if target else settings.data_dir / "artifacts"
    return AtomicFileSystemArtifactStore(folder.resolve())


def model_keeper(settings: Settings, store: Any) -> Any:
    """The :class:`studies.models.ModelKeeper` of this service (``SHRINKNETS_KEEP_MODELS``)."""
    from studies.models import ModelKeeper

    return ModelKeeper(store, keep=settings.keep_models)


@contextlib.contextmanager
def removing_artifacts(
    storage: optuna.storages.BaseStorage, store: Any, study_names: Sequence[str]
) -> Iterator[None]:
    """Remove every artifact of these studies once the block (which deletes them) succeeds.

    The ids are read before the block, while the studies still exist; a file that cannot
    be removed is logged and left (it is no longer reachable through the API).
    """
    from studies.models import artifact_ids

    ids: list[str] = []
    for name in study_names:
        with contextlib.suppress(KeyError):
            ids.extend(artifact_ids(optuna.load_study(study_name=name, storage=storage)))
    yield
    for artifact_id in ids:
        try:
            store.remove(artifact_id)
        except Exception as e:  # already gone, or the store is unreachable
            _log.info("artifact %s not removed: %s", artifact_id, e)
