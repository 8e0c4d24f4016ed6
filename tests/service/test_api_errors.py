"""The error shape, limits, health, the OpenAPI document and links behind a proxy.

The HTTP API in-process (FastAPI TestClient); trials are trained in the test process
by the functions a worker uses (claim → run → finish). Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from _api_helpers import API, app_for, assert_error, tiny_spec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.deps import get_backend


def test_unknown_ids_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    error = assert_error(client.get(f"{API}/studies/nope"), 404, "not_found")
    assert "'nope'" in error["message"] and "GET /api/v1/studies" in error["message"]
    assert_error(client.get(f"{API}/comparisons/nope"), 404, "not_found")
    assert_error(client.get(f"{API}/studies/nope/trials.csv"), 404, "not_found")
    assert_error(client.get(f"{API}/nothing-here"), 404, "not_found")
    assert_error(client.put(f"{API}/studies"), 405, "method_not_allowed")


def test_rejected_spec_creates_nothing(client: TestClient) -> None:
    bad = tiny_spec(**{"architecture.max_width": 10_000})
    assert client.post(f"{API}/comparisons", json=bad).status_code == 422
    assert client.post(f"{API}/studies", json=bad).status_code == 422
    assert client.get(f"{API}/studies").json()["total"] == 0
    assert client.get(f"{API}/comparisons").json()["total"] == 0


def test_body_over_the_limit_is_413_streamed_or_declared(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, max_body_bytes=2000)) as client:
        big = tiny_spec(name="x" * 100) | {"padding": "y" * 5000}
        error = assert_error(client.post(f"{API}/studies", json=big), 413, "payload_too_large",
                             "body")
        assert error["allowed"] == "<= 2000 bytes"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield json.dumps(big).encode()

        streamed = client.post(f"{API}/studies", content=chunks(),
                               headers={"content-type": "application/json"})
        assert_error(streamed, 413, "payload_too_large", "body")
        assert client.post(f"{API}/studies", json=tiny_spec()).status_code == 201


def test_unexpected_error_is_500_without_a_trace(tmp_path: Path) -> None:
    app = app_for(tmp_path)

    def broken() -> None:
        raise RuntimeError("secret internal detail")

    app.dependency_overrides[get_backend] = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"{API}/studies")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert "server log" in error["message"]


def test_healthz_reports_storage_and_workers(tmp_path: Path, db_url: str) -> None:
    from service.storage import record_worker_heartbeat

    app = app_for(tmp_path, db_url)
    with TestClient(app) as client:
        record_worker_heartbeat(app.state.backends.get(app.state.settings).engine,
                                f"w-{tmp_path.name}", host="h", device="cpu")
        for url in (f"{API}/healthz", "/healthz"):
            body = client.get(url).json()
            assert body["status"] == "ok"
            assert body["storage"] == ("sqlite" if db_url.startswith("sqlite") else
                                       "postgresql")
            assert f"w-{tmp_path.name}" in [w["worker_id"] for w in body["workers"]]


def test_unreachable_database_is_503_with_a_clear_message(tmp_path: Path) -> None:
    app = app_for(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")
    with TestClient(app) as client:  # the app starts although the database is down
        error = assert_error(client.get(f"{API}/healthz"), 503, "storage_unavailable")
        assert "SHRINKNETS_STORAGE_URL" in error["message"]
        assert_error(client.get(f"{API}/studies"), 503, "storage_unavailable")
        assert_error(client.post(f"{API}/studies", json=tiny_spec()), 503,
                     "storage_unavailable")


def test_openapi_documents_every_route_and_the_spec(tmp_path: Path) -> None:
    app: FastAPI = app_for(tmp_path)
    schema = TestClient(app).get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/studies", "/studies/{study_id}", "/studies/{study_id}/cancel",
                 "/studies/{study_id}/trials", "/studies/{study_id}/trials.csv",
                 "/studies/{study_id}/trials.json", "/studies/{study_id}/plots/{name}",
                 "/comparisons", "/comparisons/{comparison_id}",
                 "/comparisons/{comparison_id}/plots/{name}",
                 "/comparisons/{comparison_id}/export.json",
                 "/comparisons/{comparison_id}/export.csv", "/datasets", "/healthz"):
        assert f"{API}{path}" in paths, path
    assert "StudySpec" in schema["components"]["schemas"]
    assert "arms" in schema["components"]["schemas"]["ComparisonRequest"]["properties"]
    assert "ErrorOut" in schema["components"]["schemas"]
    post = paths[f"{API}/studies"]["post"]
    assert "422" in post["responses"] and "401" in post["responses"]


def test_links_carry_the_root_path_behind_a_proxy(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, root_path="/shrink")) as client:
        created = client.post(f"{API}/studies", json=tiny_spec()).json()
        assert created["links"]["self"] == f"/shrink{API}/studies/{created['id']}"
        assert client.get(f"{API}/studies/{created['id']}").status_code == 200
