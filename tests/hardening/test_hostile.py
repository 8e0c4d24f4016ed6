"""Hostile names, paths, SQL and HTML, and the auth boundary.

* Dataset names and file names cannot place a file outside ``<data_dir>/datasets``;
  spec dataset paths cannot reach outside it either.
* SQL in names, filters and ids is inert: refused or stored as text, tables intact.
* User strings render as text: server-side templates escape them, and in a real
  Chromium a study and a dataset named ``<script>…`` / ``<img onerror>`` run nothing.
* Every mutating route (found from the app itself) answers 401 to a missing or wrong
  token, the comparison is ``hmac.compare_digest``; read-only mode refuses every write.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
import sqlalchemy
from _hardening import ForkServer, assert_clean_error, inspect_engine, start_api, tiny_spec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api import deps
from service.app import create_app
from service.settings import Settings

API = "/api/v1"
TOKEN = "hardening-token-0123456789"
XSS = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"


def _app(root: Path, **overrides: Any) -> FastAPI:
    return create_app(Settings(data_dir=root / "var", storage_url=f"sqlite:///{root / 'h.db'}",
                               heartbeat_interval_s=2, grace_period_s=10, **overrides))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with TestClient(_app(root), raise_server_exceptions=False) as c:
        yield c


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


CSV = b"a,b,label\n" + b"".join(f"{i % 5}.5,{i % 3},{i % 2}\n".encode() for i in range(40))

# -- names and paths ---------------------------------------------------------------------
HOSTILE_NAMES = ["../escape", "../../../tmp/escape", "/etc/passwd", "a/b", "a\\b", "..",
                 ".", ".hidden", "x\x00y", "%2e%2e%2fescape", "ｅｓｃａｐｅ", "a" * 65, " ",
                 "name'; DROP TABLE snk_studies;--", "x.csv", "<b>x</b>"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_dataset_names_cannot_escape_the_data_dir(client: TestClient, root: Path,
                                                  name: str) -> None:
    before = _tree(root.parent)
    response = client.post(f"{API}/datasets", files={"file": ("data.csv", io.BytesIO(CSV))},
                           data={"name": name})
    assert response.status_code == 422, (name, response.text)
    error = assert_clean_error(response)
    assert error["field"] == "name", error
    assert _tree(root.parent) == before


@pytest.mark.parametrize("filename", ["../../../escape.csv", "/tmp/escape.csv",
                                      "..\\..\\escape.csv", "<img src=x>.csv",
                                      "a\x00b.csv", "....csv", "%2e%2e%2f.csv"])
def test_file_names_only_ever_give_a_safe_name_inside_datasets(
    client: TestClient, root: Path, filename: str
) -> None:
    datasets = (root / "var" / "datasets").resolve()
    var = f"{root.name}/var"

    def outside() -> set[str]:
        return {p for p in _tree(root.parent) if p != var and not p.startswith(f"{var}/datasets")}

    outside_before = outside()
    response = client.post(f"{API}/datasets", files={"file": (filename, io.BytesIO(CSV))})
    assert response.status_code in (201, 409, 422), response.text
    if response.status_code == 201:
        name = response.json()["name"]
        assert all(c.isalnum() or c in "_-" for c in name), name
        stored = datasets / f"{name}.csv"
        assert stored.is_file() and stored.resolve().parent == datasets
        client_listing = client.get(f"{API}/datasets").json()["items"]
        assert name in {d["name"] for d in client_listing}
    else:
        assert_clean_error(response)
    assert outside() == outside_before
    assert not (Path("/tmp") / "escape.csv").exists()


@pytest.mark.parametrize("path", ["../../../etc/passwd", "/etc/passwd", "~/.ssh/id_rsa",
                                  "file:///etc/passwd", "../var/h.db", "x/../../h.db",
                                  "digits\x00.csv"])
def test_spec_dataset_paths_cannot_reach_outside(client: TestClient, path: str) -> None:
    spec = tiny_spec("paths")
    spec["dataset"] = {"name": "mine", "path": path}
    response = client.post(f"{API}/studies", json=spec)
    assert response.status_code == 422, (path, response.text)
    assert assert_clean_error(response)["field"] == "dataset.path"


# -- SQL ---------------------------------------------------------------------------------
SQL = ["' OR '1'='1", "x'); DROP TABLE trials;--", "1; DELETE FROM snk_studies",
       "\" OR \"\"=\"", "%' --", "running' UNION SELECT * FROM snk_workers --"]


def _table_counts(root: Path) -> dict[str, int]:
    engine = inspect_engine(f"sqlite:///{root / 'h.db'}")
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(sqlalchemy.text(f"SELECT count(*) FROM {t}")).scalar()
                           or 0)
                    for t in ("studies", "trials", "snk_studies", "snk_comparisons")}
    finally:
        engine.dispose()


def test_sql_in_names_filters_and_ids_is_inert(client: TestClient, root: Path) -> None:
    assert client.post(f"{API}/studies", json=tiny_spec("before sql")).status_code == 201
    counts = _table_counts(root)
    for text in SQL:
        response = client.post(f"{API}/studies", json=tiny_spec(text))
        assert response.status_code == 422, response.text
        assert assert_clean_error(response)["field"] == "name"
        for query in (f"status={text}", f"kind={text}"):
            response = client.get(f"{API}/studies", params=dict([query.split("=", 1)]))
            assert response.status_code == 422, response.text
            assert assert_clean_error(response)["field"] == query.split("=")[0]
        for path in (f"/studies/{text}", f"/studies/{text}/trials", f"/comparisons/{text}",
                     f"/studies/{text}/plots/pareto"):
            response = client.get(API + path.replace("#", "%23"))
            assert response.status_code in (404, 422), (path, response.text)
            assert_clean_error(response)
        deleted = client.delete(f"{API}/studies/{text}")
        assert deleted.status_code in (404, 422), deleted.text
    assert _table_counts(root) == counts
    assert client.get(f"{API}/studies").json()["total"] == counts["snk_studies"]


# -- HTML --------------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["/studies/{x}", "/comparisons/{x}", "/api/v1/studies/{x}",
                                  "/nowhere/{x}"])
def test_ids_from_the_url_are_escaped_or_answered_as_json(client: TestClient, page: str) -> None:
    raw = "<img src=x onerror=alert(1)><script>alert(2)<%2Fscript>"
    response = client.get(page.replace("{x}", raw))
    assert response.status_code in (200, 404, 422), response.text
    kind = response.headers["content-type"]
    if kind.startswith("text/html"):
        assert "<img src=x" not in response.text and "<script>alert" not in response.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    else:  # JSON is never rendered as HTML by a browser
        assert kind.startswith("application/json"), kind
        assert_clean_error(response)


def _hostile_study(api_base: str, db_url: str) -> str:
    """A study whose stored spec name is :data:`XSS` (as if written by another tool)."""
    sid = str(httpx.post(f"{api_base}{API}/studies", json=tiny_spec("xss")).json()["id"])
    engine = inspect_engine(db_url)
    try:
        with engine.begin() as conn:
            name = conn.execute(sqlalchemy.text(
                "SELECT study_name FROM snk_studies WHERE id = :i"), {"i": sid}).scalar()
    finally:
        engine.dispose()
    study = optuna.load_study(study_name=name, storage=db_url)
    spec = dict(study.user_attrs["spec"])
    spec["name"] = XSS
    study.set_user_attr("spec", spec)  # the spec's one stored copy
    return sid


@pytest.mark.browser
def test_dashboard_renders_hostile_strings_as_text_in_chromium(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    chromium = os.environ.get("SHRINKNETS_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        chromium = shutil.which("chromium") or ""
    if not chromium:
        pytest.skip("no Chromium (make browser installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    db_url = f"sqlite:///{tmp_path / 'xss.db'}"
    api = start_api(fork_server, db_url, tmp_path / "var", tmp_path / "api.log")
    try:
        sid = _hostile_study(api.base, db_url)
        uploaded = httpx.post(f"{api.base}{API}/datasets", data={"name": "xssdata"},
                              files={"file": (f"{XSS}.csv".replace("/", "_"), CSV)})
        assert uploaded.status_code == 201, uploaded.text
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            for path, needle in (("", "window.__pwned=1"), (f"studies/{sid}", "window.__pwned=1"),
                                 ("new", "xssdata (uploaded")):
                page.goto(f"{api.base}/{path}")
                page.wait_for_function(
                    f"document.body.innerText.includes({json.dumps(needle)})", timeout=15000)
                assert page.evaluate("window.__pwned === undefined"), path
                assert page.locator("script:not([src])").evaluate_all(
                    "els => els.filter(e => e.textContent.includes('__pwned')).length") == 0
            browser.close()
        assert dialogs == []
    finally:
        api.proc.terminate()


# -- auth --------------------------------------------------------------------------------
def _mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, full path) of every route of the whole app that is not GET/HEAD/OPTIONS,
    walking included routers (and their include prefixes), hidden ones included."""
    found = set()
    stack: list[tuple[str, Any]] = [("", r) for r in app.router.routes]
    while stack:
        prefix, route = stack.pop()
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI's wrapper of include_router
            context = getattr(route, "include_context", None)
            inner = prefix + str(getattr(context, "prefix", "") or "")
            stack.extend((inner, r) for r in included.routes)
            continue
        stack.extend((prefix, r) for r in getattr(route, "routes", None) or [])
        methods = getattr(route, "methods", None) or set()
        for method in set(methods) - {"GET", "HEAD", "OPTIONS"}:
            found.add((method, prefix + route.path))
    openapi = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
               if m in ("post", "put", "patch", "delete")}
    assert openapi <= found, openapi - found  # the walk saw at least what the schema shows
    return sorted(found)


def _concrete(path: str) -> str:
    return (path.replace("{study_id}", "0123456789ab").replace("{comparison_id}", "0123456789ab")
            .replace("{name}", "pareto"))


def test_every_mutating_route_rejects_missing_or_wrong_tokens(root: Path) -> None:
    app = _app(root / "auth", api_token=TOKEN)
    routes = _mutating_routes(app)
    assert {m for m, _ in routes} <= {"POST", "DELETE", "PUT", "PATCH"}
    assert len(routes) >= 5, routes
    wrong = [{}, {"Authorization": ""}, {"Authorization": "Bearer"},
             {"Authorization": "Bearer "}, {"Authorization": "Bearer wrong"},
             {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": f"Bearer {TOKEN}x"},
             {"Authorization": f"Bearer {TOKEN.upper()}"}, {"Authorization": f"Basic {TOKEN}"},
             {"Authorization": TOKEN}, {"X-API-Token": TOKEN},
             {"Authorization": "Bearer " + "\u00e9" * 40}]
    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path in routes:
            for headers in wrong:
                encoded = {k: v.encode("latin-1") for k, v in headers.items()}
                response = c.request(method, _concrete(path), headers=encoded,  # type: ignore[arg-type]
                                     json=tiny_spec("auth"))
                assert response.status_code == 401, (method, path, headers, response.text)
                error = assert_clean_error(response)
                assert error["field"] == "Authorization"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert TOKEN not in response.text
            right = c.request(method, _concrete(path), json=tiny_spec("auth"),
                              headers={"Authorization": f"Bearer {TOKEN}"})
            assert right.status_code != 401, (method, path, right.text)
            assert right.status_code < 500, (method, path, right.text)


def test_token_comparison_is_constant_time() -> None:
    source = inspect.getsource(deps.require_write)
    assert "hmac.compare_digest(" in source
    assert "== expected" not in source and "expected ==" not in source
    assert "!= expected" not in source


def test_read_only_mode_refuses_every_write_and_serves_reads(root: Path) -> None:
    for token in (None, TOKEN):
        app = _app(root / f"ro-{token is not None}", read_only=True, api_token=token)
        headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
        with TestClient(app, raise_server_exceptions=False) as c:
            for method, path in _mutating_routes(app):
                response = c.request(method, _concrete(path), json=tiny_spec("ro"),
                                     headers=headers)
                assert response.status_code == 403, (method, path, response.text)
                error = assert_clean_error(response)
                assert "read-only" in error["message"]
            for path in (f"{API}/studies", f"{API}/datasets", f"{API}/comparisons", "/healthz",
                         "/", "/new"):
                assert c.get(path).status_code == 200, path
            assert c.get(f"{API}/studies").json()["total"] == 0
