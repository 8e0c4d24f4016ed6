"""service.artifacts: which store the settings choose, and removal tied to deletion."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
import pytest

from service.artifacts import open_artifact_store, removing_artifacts
from service.errors import ServiceError
from service.settings import Settings
from studies.models import AtomicFileSystemArtifactStore


def test_default_and_folder_stores(tmp_path: Path) -> None:
    default = open_artifact_store(Settings(data_dir=tmp_path))
    assert isinstance(default, AtomicFileSystemArtifactStore)
    assert (tmp_path / "artifacts").is_dir()
    shared = open_artifact_store(Settings(data_dir=tmp_path, artifact_store=str(tmp_path / "s")))
    shared.write("x", io.BytesIO(b"1"))
    assert (tmp_path / "s" / "x").read_bytes() == b"1"


def test_an_s3_store_needs_a_bare_bucket(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="s3://BUCKET"):
        open_artifact_store(Settings(data_dir=tmp_path, artifact_store="s3://bucket/prefix"))
    with pytest.raises(ServiceError, match="s3://BUCKET"):
        open_artifact_store(Settings(data_dir=tmp_path, artifact_store="s3://"))


def test_files_are_removed_only_when_the_deletion_succeeds(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = AtomicFileSystemArtifactStore(tmp_path / "a")
    study = optuna.create_study(study_name="s", storage=storage)
    (tmp_path / "f.bin").write_bytes(b"data")
    artifact = optuna.artifacts.upload_artifact(
        artifact_store=store, file_path=str(tmp_path / "f.bin"), study_or_trial=study.ask())
    with pytest.raises(RuntimeError), removing_artifacts(storage, store, ["s", "missing"]):
        raise RuntimeError("the deletion failed")
    assert (tmp_path / "a" / artifact).exists()
    with removing_artifacts(storage, store, ["s"]):
        optuna.delete_study(study_name="s", storage=storage)
    assert not (tmp_path / "a" / artifact).exists()


def test_the_api_and_cli_offer_exactly_the_export_formats() -> None:
    """Both spell the formats out (the CLI parser must not import torch); they stay equal."""
    from typing import get_args

    from service._model_cli import _FORMATS
    from service.api.studies import ModelFormat
    from shrinknets_core.export import FORMATS

    assert get_args(ModelFormat) == _FORMATS == FORMATS
