"""Uploaded datasets: listed, usable by a study, safe names, disk errors.

The HTTP API in-process (FastAPI TestClient); trials are trained in the test process
by the functions a worker uses (claim → run → finish). Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

from _api_helpers import API, app_for, assert_error, run_trials, tiny_spec
from fastapi.testclient import TestClient

UPLOAD_CSV = b"x1,x2,x3,label\n" + b"".join(
    f"{i % 5},{(i * 7) % 11},{i % 3},{'ab'[i % 2]}\n".encode() for i in range(60)
)


def test_uploaded_dataset_is_listed_and_usable_by_a_study(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    with TestClient(app) as client:
        response = client.post(f"{API}/datasets", data={"name": "my-data"},
                               files={"file": ("mine.csv", io.BytesIO(UPLOAD_CSV), "text/csv")})
        assert response.status_code == 201, response.text
        uploaded = response.json()
        assert (uploaded["task"], uploaded["n_rows"], uploaded["n_features"],
                uploaded["n_outputs"]) == ("classification", 60, 3, 2)
        stored = tmp_path / "var" / "datasets" / "my-data.csv"
        assert stored.read_bytes() == UPLOAD_CSV
        assert not [p for p in stored.parent.iterdir() if p.name.startswith(".upload-")]

        names = {d["name"]: d for d in client.get(f"{API}/datasets").json()["items"]}
        assert names["my-data"]["origin"] == "uploaded"
        assert names["digits"]["origin"] == "bundled" and names["scm1d"]["requires_file"]

        duplicate = client.post(f"{API}/datasets", data={"name": "my-data"},
                                files={"file": ("other.csv", io.BytesIO(UPLOAD_CSV))})
        assert_error(duplicate, 409, "conflict", "name")
        assert stored.read_bytes() == UPLOAD_CSV

        spec = tiny_spec(dataset=uploaded["spec"], **{"search.n_trials": 1})
        created = client.post(f"{API}/studies", json=spec)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        stored_spec = client.get(f"{API}/studies/{sid}").json()["spec"]
        # the server's path stays on the server: clients see the upload's file name
        assert stored_spec["dataset"]["path"] == "my-data.csv"
        exported = client.get(f"{API}/studies/{sid}/trials.json")
        assert exported.status_code == 200 and str(tmp_path) not in exported.text
        run_trials(app, sid, 1)  # a worker can load what the API accepted
        assert client.get(f"{API}/studies/{sid}").json()["progress"]["complete"] == 1
        again = client.post(f"{API}/studies", json={**stored_spec, "name": "again"})
        assert again.status_code == 201, again.text  # the shown spec posts back as it is


def test_upload_name_defaults_to_a_safe_version_of_the_file_name(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path)) as client:
        response = client.post(
            f"{API}/datasets", files={"file": ("../../etc/My Data!.csv", io.BytesIO(UPLOAD_CSV))}
        )
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "My_Data_"
        assert (tmp_path / "var" / "datasets" / "My_Data_.csv").is_file()


def test_disk_error_on_upload_is_507_not_500(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path)) as client:
        (tmp_path / "var").mkdir(exist_ok=True)
        (tmp_path / "var" / "datasets").write_text("a file where the folder should be")
        response = client.post(f"{API}/datasets",
                               files={"file": ("d.csv", io.BytesIO(UPLOAD_CSV))})
        error = assert_error(response, 507, "insufficient_storage")
        assert "SHRINKNETS_DATA_DIR" in error["message"]
