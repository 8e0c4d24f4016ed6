"""Bearer token on every mutating route, read-only mode, and settings overridden per test."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _api_helpers import app_for, make_settings, tiny_spec
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.api.deps import get_settings

API = "/api/v1"
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return app_for(tmp_path, api_token=TOKEN)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every POST/PUT/PATCH/DELETE route of the API, from the app itself."""
    found = []
    for route in app.router.routes:
        routes = [route] if isinstance(route, APIRoute) else getattr(route, "routes", [])
        for r in routes:
            if isinstance(r, APIRoute) and r.path.startswith(API):
                found += [(m, r.path) for m in sorted(r.methods or ()) if m not in ("GET", "HEAD")]
    if not found:  # routers nested differently: fall back to the OpenAPI description
        paths = app.openapi()["paths"]
        found = [(m.upper(), p) for p, ops in paths.items() for m in ops
                 if m in ("post", "put", "patch", "delete")]
    return found


def _concrete(path: str) -> str:
    return path.replace("{study_id}", "abc").replace("{comparison_id}", "abc")


def test_every_mutating_route_needs_the_token(app: FastAPI, client: TestClient) -> None:
    routes = _mutating_routes(app)
    expected = {("POST", f"{API}/studies"), ("POST", f"{API}/comparisons"),
                ("POST", f"{API}/datasets"), ("POST", f"{API}/studies/{{study_id}}/cancel"),
                ("DELETE", f"{API}/studies/{{study_id}}")}
    assert expected <= set(routes)
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = client.request(method, _concrete(path), headers=headers, json=tiny_spec())
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            error = response.json()["error"]
            assert error["code"] == "unauthorized" and "Authorization: Bearer" in error["message"]
            assert TOKEN not in response.text


def test_the_right_token_is_accepted_and_reads_stay_open(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = client.post(f"{API}/studies", json=tiny_spec(), headers=auth)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert client.get(f"{API}/studies/{sid}").status_code == 200
    assert client.get(f"{API}/studies").json()["total"] == 1
    assert client.get(f"{API}/datasets").status_code == 200
    assert client.post(f"{API}/studies/{sid}/cancel", headers=auth).status_code == 200
    assert client.delete(f"{API}/studies/{sid}", headers=auth).status_code == 204


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post(f"{API}/studies", json={"name": ""})
    assert response.status_code == 401


def test_no_token_configured_means_no_auth(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path)) as client:
        assert client.post(f"{API}/studies", json=tiny_spec()).status_code == 201


def test_read_only_refuses_mutations_with_403(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, read_only=True)) as client:
        for method, url in (("POST", f"{API}/studies"), ("POST", f"{API}/comparisons"),
                            ("POST", f"{API}/studies/x/cancel"), ("DELETE", f"{API}/studies/x")):
            response = client.request(method, url, json=tiny_spec())
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "read_only"
        assert client.get(f"{API}/studies").status_code == 200


def test_read_only_with_token_authenticates_first(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, read_only=True, api_token=TOKEN)) as client:
        assert client.post(f"{API}/studies", json=tiny_spec()).status_code == 401
        ok_token = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post(f"{API}/studies", json=tiny_spec(), headers=ok_token).status_code == 403


def test_settings_are_a_dependency_tests_can_override(tmp_path: Path, app: FastAPI) -> None:
    other = make_settings(tmp_path, api_token="another-token")
    app.dependency_overrides[get_settings] = lambda: other
    with TestClient(app) as client:
        assert client.post(f"{API}/studies", json=tiny_spec(),
                           headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        assert client.post(f"{API}/studies", json=tiny_spec(),
                           headers={"Authorization": "Bearer another-token"}).status_code == 201


def test_openapi_documents_the_bearer_scheme(app: FastAPI) -> None:
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert schema["paths"][f"{API}/studies"]["post"].get("security")


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (to call our own server from)."""
    import socket

    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
        address = str(s.getsockname()[0])
        return None if address.startswith("127.") else address
    return None


def test_uvicorn_on_all_interfaces_without_a_token_refuses_remote_changes(
    tmp_path: Path,
) -> None:
    """``uvicorn --factory service.app:create_app --host 0.0.0.0`` bypasses ``serve``'s
    check: the app itself accepts changes only from its own machine when no token is set."""
    from _procs import ProcGroup, free_port, service_env, wait_for_http

    remote = _non_loopback_address()
    if remote is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = service_env(url, tmp_path)
    env.pop("SHRINKNETS_API_TOKEN", None)
    procs = ProcGroup(tmp_path / "logs")
    try:
        port = free_port()
        api = procs.start("api", [sys.executable, "-m", "uvicorn", "service.app:create_app",
                                  "--factory", "--host", "0.0.0.0", "--port", str(port)], env=env)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=api)
        spec = tiny_spec(**{"search.n_trials": 1})
        refused = httpx.post(f"http://{remote}:{port}/api/v1/studies", json=spec, timeout=30)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "token_required"
        assert "SHRINKNETS_API_TOKEN" in refused.json()["error"]["message"]
        assert httpx.get(f"http://{remote}:{port}/api/v1/studies", timeout=30).status_code == 200
        local = httpx.post(f"http://127.0.0.1:{port}/api/v1/studies", json=spec, timeout=30)
        assert local.status_code == 201, local.text
    finally:
        procs.close()
