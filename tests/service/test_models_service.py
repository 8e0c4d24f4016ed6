"""Trained networks end to end: a study over HTTP, real worker and API processes, on
SQLite and PostgreSQL; download, load, predict, export from the CLI, delete."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from _api_helpers import tiny_spec
from _pg import POSTGRES_SLOW
from _procs import REPO, api_and_workers, wait_until

from shrinknets_core.datasets import load_dataset
from shrinknets_core.export.checkpoint import load_checkpoint

API = "/api/v1"
FEATURES = ("alpha", "beta", "gamma", "delta")


def _csv(n: int = 240) -> str:
    """A learnable classification file with full-precision decimals (exact standardisation
    is tested on them) and text labels."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 4)) * np.array([3.3, 0.01, 120.0, 1.0]) + np.array([1, 0, 50, -2])
    label = np.where(x[:, 0] / 3.3 + x[:, 1] / 0.01 > 0.2, "up", "down")
    rows = [",".join([*(repr(float(v)) for v in row), lab]) for row, lab in zip(x, label,
                                                                               strict=True)]
    return ",".join([*FEATURES, "label"]) + "\n" + "\n".join(rows) + "\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str],
                                                                            httpx.Client]]:
    with api_and_workers(request.param, tmp_path, workers=1) as (url, env, api, _workers):
        assert api.base_url is not None
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            yield url, env, client


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("stack", POSTGRES_SLOW, indirect=True)
def test_networks_of_a_study_are_downloadable_and_reproduce_the_trial(
    stack: tuple[str, dict[str, str], httpx.Client], tmp_path: Path
) -> None:
    _url, env, client = stack
    text = _csv()
    uploaded = client.post(f"{API}/datasets", data={"name": "updown"},
                           files={"file": ("updown.csv", io.BytesIO(text.encode()), "text/csv")})
    assert uploaded.status_code == 201, uploaded.text
    spec = tiny_spec(name="nets", dataset=uploaded.json()["spec"],
                     **{"search.n_trials": 2, "training.epochs": 4, "search.kind": "lambda"})
    created = client.post(f"{API}/studies", json=spec)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    wait_until(lambda: client.get(f"{API}/studies/{sid}").json()["status"] == "finished",
               timeout=150, interval=0.5, message="the study to finish")

    items = client.get(f"{API}/studies/{sid}/trials").json()["items"]
    assert [t["state"] for t in items] == ["COMPLETE", "COMPLETE"]
    for t in items:
        assert t["model"]["available"] and t["model"]["formats"] == [
            "onnx", "state_dict", "torchscript"]
        assert "model" not in t["attrs"]
    trial = items[0]
    base = f"{API}/studies/{sid}/trials/{trial['number']}/model"

    # TorchScript: raw rows of the test split reproduce the recorded test accuracy exactly
    response = client.get(base, params={"format": "torchscript"})
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="nets-lambda-[0-9a-f]+-trial0\.pt"', disposition)
    (tmp_path / "m.pt").write_bytes(response.content)
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    data = load_dataset(tmp_path / "data" / "datasets" / "updown.csv", seed=0)
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert data.test_rows is not None
    test_rows = [rows[i] for i in data.test_rows.tolist()]
    raw = torch.tensor([[float(c) for c in r[:4]] for r in test_rows], dtype=torch.float64)
    with torch.no_grad():
        outputs = scripted(raw)
    names = list(data.class_names or ())
    accuracy = np.mean([names[i] == r[4] for i, r in zip(outputs.argmax(1).tolist(), test_rows,
                                                         strict=True)])
    assert accuracy == trial["attrs"]["test_accuracy"]

    # the state-dict bundle rebuilds the ShrinkNet: identical outputs on the same features
    bundle = client.get(base, params={"format": "state_dict"})
    (tmp_path / "m.pth").write_bytes(bundle.content)
    model = load_checkpoint(tmp_path / "m.pth").eval()
    with torch.no_grad():
        assert torch.equal(model(data.x_test), outputs)
    assert model.alive_widths() == trial["attrs"]["final_widths"]

    # shrinknets predict on a CSV of the raw test rows (with its label column)
    (tmp_path / "test.csv").write_text(
        ",".join([*FEATURES, "label"]) + "\n" + "\n".join(",".join(r) for r in test_rows) + "\n")
    predicted = _cli(env, "predict", str(tmp_path / "m.pt"), str(tmp_path / "test.csv"))
    assert predicted.returncode == 0, predicted.stderr
    assert f"accuracy {accuracy:.4f}" in predicted.stderr
    assert len(predicted.stdout.splitlines()) == len(test_rows) + 1

    # shrinknets export reads the same file from storage
    exported = _cli(env, "export", sid, str(trial["number"]), "--format", "state_dict",
                    "--out", str(tmp_path / "cli.pth"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "cli.pth").read_bytes() == bundle.content

    # errors: bad format 422 naming it; unknown trial 404
    bad = client.get(base, params={"format": "pickle"})
    assert bad.status_code == 422 and "format" in bad.text
    assert client.get(f"{API}/studies/{sid}/trials/99/model").status_code == 404
    missing = _cli(env, "export", sid, "99")
    assert missing.returncode == 2 and "trial 99" in missing.stderr

    # deleting the study deletes its files
    folder = tmp_path / "data" / "artifacts"
    assert len(list(folder.iterdir())) == 6
    assert client.delete(f"{API}/studies/{sid}").status_code == 204
    assert list(folder.iterdir()) == []
