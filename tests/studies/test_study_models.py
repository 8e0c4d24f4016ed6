"""Trained networks kept as Optuna artifacts: all / pareto / none, failures, stores."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path
from typing import Any, BinaryIO

import optuna
import pytest
import torch
from _study_helpers import tiny_spec
from optuna.trial import TrialState

from shrinknets_core.errors import StopTraining
from shrinknets_core.export import load_bundle, load_exported
from studies.execute import TrialStopped, ask_trial, create_study, run_study, run_trial
from studies.models import (
    REMOVED_ATTR,
    AtomicFileSystemArtifactStore,
    ModelKeeper,
    artifact_ids,
    model_info,
    open_model,
)
from studies.objectives import load_study_data


def _download(store: Any, trial: optuna.trial.FrozenTrial, fmt: str, folder: Path,
              removed: Any = ()) -> Path:
    reader, name, _ = open_model(store, trial, fmt, removed)
    path = folder / name
    with reader:
        path.write_bytes(reader.read())
    return path


def _raw_test_rows(spec: Any) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_study_data(spec)
    return data.x_test.double() * data.x_std + data.x_mean, data.y_test


@pytest.mark.parametrize("kind", ["lambda", "width", "lambda_path"])
def test_every_complete_trial_keeps_its_network(kind: str, tmp_path: Path) -> None:
    spec = tiny_spec(kind, f"keep-{kind}", objectives=["val_loss", "params"])
    store = AtomicFileSystemArtifactStore(tmp_path / "artifacts")
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False,
                      models=ModelKeeper(store))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3
    raw, labels = _raw_test_rows(spec)
    for t in complete:
        info = model_info(t)
        assert info["available"] and info["formats"] == ["onnx", "state_dict", "torchscript"]
        assert all(size > 0 for size in info["bytes"].values())
        metas = optuna.artifacts.get_all_artifact_meta(t, storage=study._storage)
        assert sorted(m.filename.rsplit(".", 1)[1] for m in metas) == ["onnx", "pt", "pth"]
        # the file reproduces the trial's recorded test accuracy exactly
        scripted = load_exported(_download(store, t, "torchscript", tmp_path))
        with torch.no_grad():
            predicted = scripted.predict(raw).argmax(dim=1)
        accuracy = (predicted == labels).double().mean().item()
        assert accuracy == pytest.approx(t.user_attrs["test_accuracy"], abs=1e-12)
        assert scripted.metadata["widths"] == t.user_attrs["final_widths"]
        assert scripted.metadata["metrics"]["test_accuracy"] == t.user_attrs["test_accuracy"]
        model, _, _ = load_bundle(_download(store, t, "state_dict", tmp_path))
        assert model.alive_widths() == t.user_attrs["final_widths"]
    stored = {p.name for p in (tmp_path / "artifacts").iterdir()}
    assert set(artifact_ids(study)) >= {
        e["artifact_id"] for t in complete for e in t.user_attrs["model"]["formats"].values()
    }
    assert stored >= set(artifact_ids(study)) - {None}


def test_pareto_mode_keeps_only_the_front(tmp_path: Path) -> None:
    spec = tiny_spec("lambda", "keep-front", objectives=["val_loss", "params"], n_trials=6,
                     sampler="random")
    store = AtomicFileSystemArtifactStore(tmp_path / "artifacts")
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False,
                      models=ModelKeeper(store, keep="pareto"))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    points = {t.number: (t.user_attrs["val_loss"], t.user_attrs["params"]) for t in complete}
    front = {n for n, (loss, size) in points.items() if not any(
        o[0] <= loss and o[1] <= size and o != (loss, size) for o in points.values())}
    removed = study.user_attrs.get(REMOVED_ATTR, [])
    kept = {t.number for t in complete if model_info(t, removed)["available"]}
    assert kept == front and front != set(points)  # some trial was dominated
    files = {p.name for p in (tmp_path / "artifacts").iterdir()}
    for t in complete:
        ids = {e["artifact_id"] for e in (t.user_attrs["model"].get("formats") or {}).values()}
        assert (ids <= files) if t.number in front else not (ids & files)
        if t.number not in front:
            with pytest.raises(LookupError, match=r"pareto|front"):
                open_model(store, t, "torchscript", removed)


def test_keep_none_stores_nothing_and_says_so(tmp_path: Path) -> None:
    spec = tiny_spec("width", "keep-none", n_trials=1)
    store = AtomicFileSystemArtifactStore(tmp_path / "artifacts")
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False,
                      models=ModelKeeper(store, keep="none"))
    info = model_info(study.trials[0])
    assert not info["available"] and "KEEP_MODELS=none" in info["reason"]
    assert list((tmp_path / "artifacts").iterdir()) == []


class _FullDisk(AtomicFileSystemArtifactStore):
    """Writes the first file, then the disk is full."""

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.writes = 0

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.writes += 1
        if self.writes > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self._base_path))
        super().write(artifact_id, content_body)


def test_a_full_disk_is_a_clear_reason_not_a_lost_trial(tmp_path: Path) -> None:
    spec = tiny_spec("lambda", "full-disk", n_trials=1)
    store = _FullDisk(tmp_path / "artifacts")
    study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False,
                      models=ModelKeeper(store))
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    info = model_info(trial)
    assert not info["available"]
    assert info["reason"] == "could not store the network: OSError: No space left on device"
    assert str(tmp_path) not in info["reason"]  # no server path in what users see
    assert list((tmp_path / "artifacts").iterdir()) == []  # the first file was removed
    assert optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage) == []


class _Breaks(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 0:
            raise OSError(errno.EIO, "I/O error")
        return super().read(10)


def test_an_interrupted_write_leaves_no_visible_file(tmp_path: Path) -> None:
    store = AtomicFileSystemArtifactStore(tmp_path / "a")
    with pytest.raises(OSError):
        store.write("abc", _Breaks(b"x" * 100))
    assert list((tmp_path / "a").iterdir()) == []
    store.write("abc", io.BytesIO(b"whole"))
    assert store.open_reader("abc").read() == b"whole"


def test_a_stopped_trial_keeps_nothing(tmp_path: Path) -> None:
    spec = tiny_spec("lambda", "stopped", n_trials=1)
    store = AtomicFileSystemArtifactStore(tmp_path / "artifacts")
    study = create_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}")
    trial = ask_trial(study, spec)

    def stop(_: Any) -> None:
        raise StopTraining("cancelled")

    with pytest.raises(TrialStopped):
        run_trial(study, trial, spec, on_epoch=stop, models=ModelKeeper(store))
    assert "model" not in study.trials[0].user_attrs
    assert list((tmp_path / "artifacts").iterdir()) == []


def test_optuna_dashboard_lists_and_serves_the_files(tmp_path: Path) -> None:
    from optuna_dashboard import wsgi
    from werkzeug.test import Client

    spec = tiny_spec("width", "dashboard", n_trials=1)
    store = AtomicFileSystemArtifactStore(tmp_path / "artifacts")
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    study = run_study(spec, storage, progress=False, models=ModelKeeper(store))
    client = Client(wsgi(storage, artifact_store=store))
    response = client.get(f"/api/studies/{study._study_id}?after=0")
    assert response.status_code == 200
    (trial,) = json.loads(response.get_data())["trials"]
    listed = {a["filename"]: a["artifact_id"] for a in trial["artifacts"]}
    assert sorted(listed) == ["dashboard-trial0.onnx", "dashboard-trial0.pt",
                              "dashboard-trial0.pth"]
    served = client.get(
        f"/artifacts/{study._study_id}/{trial['trial_id']}/{listed['dashboard-trial0.pt']}"
    )
    assert served.status_code == 200
    stored = store.open_reader(listed["dashboard-trial0.pt"]).read()
    assert served.get_data() == stored


def test_an_s3_bucket_store_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    from service.artifacts import open_artifact_store
    from service.settings import Settings

    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        boto3.client("s3").create_bucket(Bucket="nets")
        store = open_artifact_store(Settings(data_dir=tmp_path, artifact_store="s3://nets"))
        assert type(store).__name__ == "Boto3ArtifactStore"
        spec = tiny_spec("width", "s3", n_trials=1)
        study = run_study(spec, f"sqlite:///{tmp_path / 'db.sqlite'}", progress=False,
                          models=ModelKeeper(store))
        (trial,) = study.trials
        path = _download(store, trial, "state_dict", tmp_path)
        model, _, _ = load_bundle(path)
        assert model.alive_widths() == trial.user_attrs["final_widths"]
        for artifact_id in artifact_ids(study):
            store.remove(artifact_id)
        assert boto3.client("s3").list_objects_v2(Bucket="nets").get("KeyCount") == 0
