"""Property-based fuzzing of the whole OpenAPI schema (schemathesis, in-process ASGI).

Every operation of ``/openapi.json`` gets generated requests, valid (positive) and
invalid (negative), also against an existing study and comparison so routes past the
404 are reached. Every answer must be: no 5xx, no stack trace, the one JSON error shape
on 4xx, and a 4xx about the request's content names the offending field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from _hardening import tiny_spec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.settings import Settings

#: Examples per mode over all operations together (keeps the test well under a minute).
EXAMPLES = 400
_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
#: 4xx codes about the request's content: their ``field`` must name what was wrong.
_FIELD_CODES = {400, 413, 415, 422}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str, str]]:
    """An app on a temporary SQLite database with one study and one comparison."""
    root = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(data_dir=root / "var", storage_url=f"sqlite:///{root / 'f.db'}",
                              heartbeat_interval_s=2, grace_period_s=10))
    with TestClient(app) as client:
        study = client.post("/api/v1/studies", json=tiny_spec("fuzz-study")).json()["id"]
        comparison = client.post("/api/v1/comparisons", json=tiny_spec("fuzz-cmp")).json()["id"]
        yield app, study, comparison


def check_answer(case: Any, response: Any, seen: Counter[int]) -> None:
    """No 5xx, no stack trace, the error shape and a named field on every 4xx."""
    status = response.status_code
    seen[status] += 1
    request = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"[:600]
    assert status < 500, f"{status} for {request}: {response.text[:500]}"
    assert not _TRACE.search(response.text), f"stack trace for {request}: {response.text[:500]}"
    if status < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, f"{request}: {body}"
    error = body["error"]
    assert error["message"], f"{request}: {body}"
    if status in _FIELD_CODES:
        field = error["field"]
        assert field, f"{status} without a field for {request}: {body}"
        assert field.split(".")[-1].split("[")[0] in error["message"] or field == "body", (
            f"{status}: message does not name {field!r} for {request}: {body}")


def _strategy(schema: Any, mode: schemathesis.GenerationMode, study: str,
              comparison: str) -> st.SearchStrategy[Any]:
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=mode))
        params = {}
        if "{study_id}" in operation.path:
            params["study_id"] = study
        if "{comparison_id}" in operation.path:
            params["comparison_id"] = comparison
        if params:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=params))
    return st.one_of(strategies)


MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
def test_fuzz_whole_schema(fuzz_app: tuple[FastAPI, str, str],
                           mode: schemathesis.GenerationMode) -> None:
    fuzz(fuzz_app, mode, examples=EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_fuzz_whole_schema_soak(fuzz_app: tuple[FastAPI, str, str],
                                mode: schemathesis.GenerationMode) -> None:
    fuzz(fuzz_app, mode, examples=EXAMPLES * 12, derandomize=False)


def fuzz(fuzz_app: tuple[FastAPI, str, str], mode: schemathesis.GenerationMode, *,
         examples: int, derandomize: bool = True) -> None:
    """Run ``examples`` generated requests of ``mode`` over every operation."""
    app, study, comparison = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter[int] = Counter()
    operations: Counter[str] = Counter()

    problems: dict[str, str] = {}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(case=_strategy(schema, mode, study, comparison))
    def run(case: Any) -> None:
        label = f"{case.method} {case.path}"
        operations[label] += 1
        try:
            response = case.call()
            check_answer(case, response, seen)
        except Exception as e:  # collect every distinct problem, not just the first
            key = f"{label}: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            problems.setdefault(key, f"{str(e)[:800]}\n{case.as_curl_command()}")

    run()
    print(f"{mode.value}: statuses {dict(seen)}; {len(operations)} operations")
    assert not problems, "\n\n".join(f"{k}\n{v}" for k, v in problems.items())
    assert len(operations) >= 10, operations
    assert sum(seen.values()) >= examples // 2
