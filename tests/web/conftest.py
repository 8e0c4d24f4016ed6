"""Fixtures of the dashboard tests: the real process stack and a headless Chromium.

``stack`` (module scope) starts uvicorn with an API token and a worker on a temporary
SQLite file, a second uvicorn with ``--root-path /prefix`` behind a prefix-stripping
proxy, and posts the tiny comparison (three arms: λ, width, width + Hyperband);
``browser`` launches Debian's Chromium through Playwright; ``page`` is a fresh light-mode
tab that records JS errors and fails the test if anything is fetched from another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _browser import (
    ARMS,
    ARTIFACTS,
    CHROMIUM_ARGS,
    SPEC,
    TOKEN,
    Stack,
    chromium_or_skip,
    playwright_or_skip,
)
from _stack import PrefixProxy, free_port, start_server, start_worker, stop, wait_http


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium_or_skip()
    playwright_or_skip()
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'studies.db'}"
    env = {"SHRINKNETS_STORAGE_URL": url, "SHRINKNETS_DATA_DIR": str(tmp),
           "SHRINKNETS_WORKER_POLL_S": "0.2", "SHRINKNETS_WORKER_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    port, prefixed_port = free_port(), free_port()
    logs = [tmp / "server.log", tmp / "worker.log", tmp / "prefixed.log"]
    server = start_server({**env, "SHRINKNETS_API_TOKEN": TOKEN}, port, logs[0])
    prefixed = start_server(env, prefixed_port, logs[2], root_path="/prefix")
    worker = None
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_http(base + "api/v1/healthz", server, logs[0])
        wait_http(f"http://127.0.0.1:{prefixed_port}/api/v1/healthz", prefixed, logs[2])
        created = httpx.post(base + "api/v1/comparisons", json={**SPEC, "arms": ARMS}, timeout=30,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert created.status_code == 201, created.text
        body = created.json()
        worker = start_worker(env, url, logs[1])
        with PrefixProxy("/prefix", prefixed_port) as proxy:
            yield Stack(base, f"http://127.0.0.1:{proxy.port}/prefix/", body["id"],
                        body["arms"], logs)
    finally:
        for proc in (worker, server, prefixed):
            if proc is not None:
                stop(proc)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    sync_api = playwright_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_or_skip(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900},
                                  color_scheme="light")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.js_errors = errors
    # nothing may be fetched from another host (no CDN)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    yield page
    context.close()
    assert not outside, f"the page fetched from other hosts: {outside}"
