"""Limits at the boundary and hostile data files.

The server runs with tight limits (width 64, depth 3, epochs 5, trials 10, page 20,
JSON body 16 KiB, upload 64 KiB). Each limit accepts its boundary value and refuses the
next one with a 4xx naming the field and the allowed range; oversized, malformed and
malicious data files (wrong column counts, NaN, text in numbers, gzip and zip bombs,
pickles) are refused with a message saying what is wrong, and nothing stays on disk.
"""

from __future__ import annotations

import gzip
import io
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _hardening import assert_clean_error, tiny_spec
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

API = "/api/v1"
LIMITS = {"max_width": 64, "max_depth": 3, "max_epochs": 5, "max_trials": 10,
          "max_page_size": 20, "max_body_bytes": 16 * 1024, "max_upload_bytes": 64 * 1024}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("limits")
    app = create_app(Settings(data_dir=root / "var", storage_url=f"sqlite:///{root / 'l.db'}",
                              heartbeat_interval_s=2, grace_period_s=10, **LIMITS))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _datasets(client: TestClient) -> Path:
    return Path(client.app.state.settings.data_dir) / "datasets"  # type: ignore[attr-defined]


def _files(client: TestClient) -> list[str]:
    folder = _datasets(client)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- study limits ------------------------------------------------------------------------
@pytest.mark.parametrize(("section", "key", "limit"), [
    ("architecture", "max_width", 64), ("architecture", "depth", 3),
    ("training", "epochs", 5), ("search", "n_trials", 10),
])
def test_study_limits_accept_the_boundary_and_refuse_one_more(
    client: TestClient, section: str, key: str, limit: int
) -> None:
    spec = tiny_spec(f"edge-{key}")
    spec[section][key] = limit
    assert client.post(f"{API}/studies", json=spec).status_code == 201
    spec[section][key] = limit + 1
    response = client.post(f"{API}/studies", json=spec)
    assert response.status_code == 422, response.text
    error = assert_clean_error(response)
    assert error["field"] == f"{section}.{key}", error
    assert error["allowed"] and str(limit) in error["allowed"], error
    for huge in (10**18, 2**63, -1, 0):
        spec[section][key] = huge
        response = client.post(f"{API}/studies", json=spec)
        assert response.status_code == 422, (huge, response.text)
        assert assert_clean_error(response)["field"] == f"{section}.{key}"


# -- page sizes --------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["limit=21", "limit=0", "limit=-5", "limit=abc",
                                   "offset=-1", "offset=1e3", "limit=99999999999999999999"])
def test_bad_page_parameters_are_422_naming_the_parameter(client: TestClient, query: str) -> None:
    for path in ("/studies", "/comparisons"):
        response = client.get(f"{API}{path}?{query}")
        assert response.status_code == 422, (path, query, response.text)
        assert assert_clean_error(response)["field"] == query.split("=")[0]


@pytest.mark.parametrize("offset", [10**6, 2**31, 2**63, 10**30])
def test_huge_offsets_never_fail_the_server(client: TestClient, offset: int) -> None:
    sid = client.post(f"{API}/studies", json=tiny_spec("pager")).json()["id"]
    for path in ("/studies", f"/studies/{sid}/trials", "/comparisons"):
        response = client.get(f"{API}{path}?offset={offset}")
        assert response.status_code in (200, 422), (path, offset, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == []
        else:
            assert assert_clean_error(response)["field"] == "offset"


def test_a_full_page_is_served_at_the_limit(client: TestClient) -> None:
    response = client.get(f"{API}/studies?limit=20")
    assert response.status_code == 200 and response.json()["limit"] == 20


# -- request bodies ----------------------------------------------------------------------
def test_json_body_over_the_limit_is_413_declared_or_streamed(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * (17 * 1024) + b'"}'
    declared = client.post(f"{API}/studies", content=big,
                           headers={"Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text
    assert assert_clean_error(declared)["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for _ in range(40):
            yield b" " * 1024
        yield b"{}"

    streamed = client.post(f"{API}/studies", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert assert_clean_error(streamed)["field"] == "body"


def test_deeply_nested_json_is_refused_cleanly(client: TestClient) -> None:
    body = "[" * 5000 + "]" * 5000
    response = client.post(f"{API}/studies", content=body,
                           headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert_clean_error(response)


_BOUNDARY = "4bea7452f2ee0b8418ae8c1020a88206"
UNPARSABLE: list[tuple[str, bytes, str]] = [
    ("/studies", b"\xc3P\xf6F\x80", "application/json"),
    ("/studies", b"\x00", "application/json"),
    ("/studies", b"{\"name\": ", "application/json"),
    ("/datasets", f"--{_BOUNDARY}\r\n--{_BOUNDARY}--\r\n".encode(),
     f"multipart/form-data; boundary={_BOUNDARY}"),
    ("/datasets", b"garbage", "multipart/form-data"),
]


@pytest.mark.parametrize(("path", "body", "content_type"), UNPARSABLE)
def test_unparsable_bodies_are_4xx_naming_the_body(
    client: TestClient, path: str, body: bytes, content_type: str
) -> None:
    response = client.post(f"{API}{path}", content=body, headers={"Content-Type": content_type})
    assert response.status_code in (400, 422), response.text
    error = assert_clean_error(response)
    assert error["field"] in ("body", "file"), error
    assert "body" in error["message"] or "file" in error["message"], error


# -- uploads: size -----------------------------------------------------------------------
def _csv(rows: int, cols: int = 3) -> bytes:
    header = ",".join(f"f{i}" for i in range(cols)) + ",label"
    lines = [header] + [",".join(f"{(r * 7 + c) % 11}.5" for c in range(cols)) + f",{r % 2}"
                        for r in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _upload(client: TestClient, filename: str, content: bytes, **form: str) -> Any:
    return client.post(f"{API}/datasets", files={"file": (filename, io.BytesIO(content))},
                       data=form)


def test_upload_at_and_over_the_size_limit(client: TestClient) -> None:
    limit = LIMITS["max_upload_bytes"]
    body = _csv(2000)
    body = body[: body.rfind(b"\n", 0, limit) + 1]
    assert len(body) <= limit
    ok = _upload(client, "edge.csv", body, name="edge")
    assert ok.status_code == 201, ok.text
    over = _upload(client, "over.csv", _csv(6000), name="over")
    assert over.status_code == 413, over.text
    error = assert_clean_error(over)
    assert error["field"] in ("file", "body") and str(limit) in error["message"] + str(
        error["allowed"])
    assert "over" not in " ".join(_files(client))
    assert not [f for f in _files(client) if f.startswith(".upload")]


# -- uploads: malformed and malicious files ----------------------------------------------
def _npz(**arrays: Any) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _npz_bomb(rows: int, cols: int) -> bytes:
    """A deflated .npz whose x array is rows×cols float64 zeros (tiny compressed)."""
    out = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (rows, cols)}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            zeros = b"\0" * (1 << 20)
            for _ in range(rows * cols * 8 // len(zeros)):
                member.write(zeros)
        archive.writestr("y.npy", _npy(np.zeros(rows)))
    return out.getvalue()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _lying_zip() -> bytes:
    """An .npz whose zip headers claim a 100-byte member that inflates to 32 MiB."""
    data = _npz_bomb(1024, 4096)
    # Patch every declared uncompressed size of x.npy (local header and central directory).
    return data.replace(struct.pack("<Q", 1024 * 4096 * 8 + 128), struct.pack("<Q", 100))


def _gzip_bomb(decompressed: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(b"a,b,label\n")
        line = b"0,0,1\n" * 100_000
        for _ in range(decompressed // len(line)):
            gz.write(line)
    return out.getvalue()


GOOD_X = np.random.default_rng(0).normal(size=(60, 3))
GOOD_Y = np.arange(60) % 2

BAD_FILES: list[tuple[str, bytes, dict[str, str], str]] = [
    ("ragged.csv", b"a,b,label\n1,2,0\n3,4,5,1\n5,6,0\n", {}, "column"),
    ("short.csv", b"a,b,label\n1,2,0\n3,1\n5,6,0\n", {}, "column"),
    ("nan.csv", b"a,b,label\n1,nan,0\n3,4,1\n" + b"5,6,0\n" * 30, {}, "nan"),
    ("inf.csv", b"a,b,label\n1,inf,0\n3,4,1\n" + b"5,6,0\n" * 30, {}, "inf"),
    ("text.csv", b"a,b,label\n1,2,0\n3,hello,1\n" + b"5,6,0\n" * 30, {}, "hello"),
    ("empty.csv", b"", {}, "empty"),
    ("header.csv", b"a,b,label\n", {}, "row"),
    ("binary.csv", bytes(range(256)) * 8, {}, ""),
    ("bomb.csv.gz", b"", {}, "max_bytes"),
    ("nan.npz", _npz(x=np.where(GOOD_X > 1, np.nan, GOOD_X), y=GOOD_Y), {}, "nan"),
    ("mismatch.npz", _npz(x=GOOD_X, y=GOOD_Y[:50]), {}, "rows"),
    ("noy.npz", _npz(x=GOOD_X), {}, "y"),
    ("pickle.npz", _npz(x=np.array([{"a": 1}] * 60, dtype=object), y=GOOD_Y), {}, "object"),
    ("text.npz", _npz(x=np.array([["a", "b"]] * 60), y=GOOD_Y), {}, ""),
    ("bomb.npz", b"", {}, "max_bytes"),
    ("liar.npz", b"", {}, ""),
    ("notzip.npz", b"PK\x03\x04 definitely not a zip", {}, "zip"),
    ("noattrs.arff", b"@relation r\n@data\n1,2\n", {}, ""),
    ("cols.arff", b"@relation r\n@attribute a numeric\n@attribute c {x,y}\n@data\n1,2,x\n",
     {}, ""),
    ("text.arff", b"@relation r\n@attribute a numeric\n@attribute c {x,y}\n@data\nabc,x\n"
     + b"1,y\n" * 30, {}, "abc"),
]


@pytest.mark.parametrize(("filename", "content", "form", "needle"), BAD_FILES,
                         ids=[c[0] for c in BAD_FILES])
def test_malformed_and_malicious_files_are_refused_clearly(
    client: TestClient, filename: str, content: bytes, form: dict[str, str], needle: str
) -> None:
    if filename == "bomb.csv.gz":
        content = _gzip_bomb(30 << 20)  # 30 MiB of CSV rows (~1000x the compressed size)
    elif filename == "bomb.npz":
        content = _npz_bomb(3072, 2048)  # 48 MiB of float64 zeros
    elif filename == "liar.npz":
        content = _lying_zip()
    assert len(content) <= LIMITS["max_upload_bytes"], len(content)
    before = _files(client)
    started = time.monotonic()
    response = _upload(client, filename, content, **form)
    elapsed = time.monotonic() - started
    assert response.status_code == 422, (filename, response.status_code, response.text)
    error = assert_clean_error(response)
    assert error["field"] == "file", error
    assert filename in error["message"], error  # names the file, never the temporary name
    assert ".upload-" not in error["message"]
    assert needle.lower() in error["message"].lower(), error
    assert elapsed < 20, f"{filename} took {elapsed:.1f}s to refuse"
    assert _files(client) == before


# -- cached trial reads stay fresh -------------------------------------------------------
def test_cached_trial_reads_follow_new_and_finished_trials(client: TestClient) -> None:
    """The API keeps finished trials in memory (service/api/_readers.TrialReaders); a trial
    that starts, reports an epoch and finishes must still show up at once."""
    import torch

    from service.scheduler import claim_trial, finish_trial
    from service.storage import get_study_record
    from studies.execute import run_trial
    from studies.spec import load_spec

    torch.set_num_threads(1)
    sid = client.post(f"{API}/studies", json=tiny_spec("fresh", n_trials=2, epochs=2)).json()["id"]
    backend = client.app.state.backends.get(client.app.state.settings)  # type: ignore[attr-defined]
    states = []
    for _ in range(2):
        record = get_study_record(backend.engine, sid)
        trial = claim_trial(backend.storage, backend.engine, record)
        assert trial is not None
        page = client.get(f"{API}/studies/{sid}/trials").json()
        states.append([t["state"] for t in page["items"]])
        values = run_trial(trial.study, trial, load_spec(record.spec), device="cpu")
        running = client.get(f"{API}/studies/{sid}/trials").json()["items"][-1]
        assert len(running["attrs"]) > 0  # attributes written while RUNNING are visible
        assert finish_trial(backend.storage, backend.engine, record, trial, values=values)
    assert states == [["RUNNING"], ["COMPLETE", "RUNNING"]]
    final = client.get(f"{API}/studies/{sid}").json()
    assert final["progress"]["complete"] == 2 and final["status"] == "finished"
    items = client.get(f"{API}/studies/{sid}/trials").json()["items"]
    assert [t["state"] for t in items] == ["COMPLETE", "COMPLETE"]
    assert all(t["values"] for t in items) and len(final["best_trials"]) >= 1
