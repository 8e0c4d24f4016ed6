"""A table of bad inputs: each is answered 4xx (never 500) naming the field and the range.

The server runs with limits tighter than StudySpec's own (max_width 64, depth 3, epochs 5,
trials 10, page size 20) so both layers of validation are exercised.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _api_helpers import app_for, tiny_spec
from fastapi.testclient import TestClient

API = "/api/v1"
_DELETE = object()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = app_for(tmp_path_factory.mktemp("validation"), max_width=64, max_depth=3,
                  max_epochs=5, max_trials=10, max_page_size=20, max_upload_bytes=4096)
    with TestClient(app) as c:
        yield c


def _spec(path: str, value: Any) -> dict[str, Any]:
    spec = tiny_spec()
    if value is _DELETE:
        node = spec
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        del node[leaf]
        return spec
    return tiny_spec(**{path: value})


# (dotted path to change, new value, status, error field, text expected in "allowed")
SPEC_CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("name", "", 422, "name", "length 1..100"),
    ("name", "a/b", 422, "name", None),
    ("name", "x" * 101, 422, "name", "length 1..100"),
    ("dataset", _DELETE, 422, "dataset", None),
    ("dataset.name", "no_such_dataset", 422, "dataset.name", "digits"),
    ("dataset.name", "scm1d", 422, "dataset.name", "digits"),
    ("dataset.path", "/etc/passwd", 422, "dataset.path", "uploaded"),
    ("dataset.path", "../../var/secret.csv", 422, "dataset.path", "uploaded"),
    ("dataset.task", "clustering", 422, "dataset.task", "'classification', 'regression'"),
    ("dataset.max_rows", 5, 422, "dataset.max_rows", "10..10000000"),
    ("dataset.seed", -1, 422, "dataset.seed", "0..2147483647"),
    ("architecture.kind", "rnn", 422, "architecture.kind", "'mlp', 'cnn'"),
    ("architecture.depth", 0, 422, "architecture.depth", "1..8"),
    ("architecture.depth", 4, 422, "architecture.depth", "1..3"),
    ("architecture.max_width", 0, 422, "architecture.max_width", "1..4096"),
    ("architecture.max_width", 65, 422, "architecture.max_width", "1..64"),
    ("architecture.max_width", "wide", 422, "architecture.max_width", "1..4096"),
    # numbers are numbers: no bool or numeric string is coerced
    ("architecture.max_width", True, 422, "architecture.max_width", "1..4096"),
    ("architecture.max_width", "64", 422, "architecture.max_width", "1..4096"),
    ("training.lr", "0.01", 422, "training.lr", None),
    ("architecture.dropout", 0.95, 422, "architecture.dropout", "0.0..0.9"),
    ("architecture.activation", "gelu", 422, "architecture.activation", "'relu'"),
    ("architecture", "wide", 422, "architecture", None),
    ("training.epochs", 0, 422, "training.epochs", "1..500"),
    ("training.epochs", 6, 422, "training.epochs", "1..5"),
    ("training.batch_size", 0, 422, "training.batch_size", "1..65536"),
    ("training.optimizer", "rmsprop", 422, "training.optimizer", "'adam'"),
    ("training.lr", -1.0, 422, "training.lr", "1e-07..10.0"),
    ("training.lam2", 2.0, 422, "training.lam2", "0.0..1.0"),
    ("training.gamma", 1.0, 422, "training.gamma", "0.0..0.99999"),
    ("training.device", "tpu", 422, "training.device", "matching"),
    ("search.kind", "grid", 422, "search.kind", "'lambda'"),
    ("search.n_trials", 0, 422, "search.n_trials", "1..1000"),
    ("search.n_trials", 100_001, 422, "search.n_trials", "1..100000"),
    ("search.n_trials", 11, 422, "search.n_trials", "1..10"),
    ("search.n_trials", None, 422, "search.n_trials", None),  # no budget at all
    ("search.max_macs", 0, 422, "search.max_macs", "1.0..1e+21"),
    ("search.max_macs", 1000.0, 422, "search.max_macs", ">= "),  # less than one trial
    ("search.max_seconds", 0, 422, "search.max_seconds", "0.001..100000000.0"),
    ("search.sampler", "grid", 422, "search.sampler", "'tpe', 'random'"),
    ("search.objectives", ["params"], 422, "search", None),
    ("search.lam_min", 1.0, 422, "search", None),
    ("search.lam_max", 1000.0, 422, "search.lam_max", "1e-08..100.0"),
    ("search.kind", "target_size", 422, "search", None),
    ("search.epochs_per_step", 6, 422, "search.epochs_per_step", "1..5"),
    ("search.path.warmup_epochs", 6, 422, "search.path.warmup_epochs", "0..5"),
    ("search.path.epochs_per_step", 0.01, 422, "search.path.epochs_per_step", "0.05..500"),
    ("training.lam_scale", "sgd", 422, "training.lam_scale", "'grad'"),
    ("search.path.importance", "random", 422, "search.path.importance", "'taylor'"),
    ("search.eta", 1, 422, "search.eta", "2..10"),
    ("search.pruner", "asha", 422, "search.pruner", "'mo_asha'"),
    ("training.penalty_weight", "flops", 422, "training.penalty_weight", "'params'"),
    ("unknown_field", 1, 422, "unknown_field", None),
    ("training.unknown", 1, 422, "training.unknown", None),
]


@pytest.mark.parametrize(("path", "value", "status", "field", "allowed"), SPEC_CASES,
                         ids=[f"{c[0]}={str(c[1])[:12]}" for c in SPEC_CASES])
@pytest.mark.parametrize("route", ["studies", "comparisons"])
def test_bad_spec_is_rejected_naming_the_field(
    client: TestClient, route: str, path: str, value: Any, status: int, field: str,
    allowed: str | None,
) -> None:
    response = client.post(f"{API}/{route}", json=_spec(path, value))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    fields = [error["field"]] + [d["field"] for d in error.get("details") or []]
    assert field in fields, error
    item = next(d for d in [error, *(error.get("details") or [])] if d["field"] == field)
    assert field in item["message"]
    if allowed is not None:
        assert item["allowed"] is not None and allowed in item["allowed"], item


def test_every_bad_field_is_reported_at_once(client: TestClient) -> None:
    spec = tiny_spec(**{"architecture.max_width": 65, "training.epochs": 6,
                        "search.n_trials": 11, "architecture.depth": 4})
    error = client.post(f"{API}/studies", json=spec).json()["error"]
    assert {d["field"] for d in error["details"]} == {
        "architecture.max_width", "architecture.depth", "training.epochs", "search.n_trials"
    }
    assert all(d["code"] == "limit_exceeded" for d in error["details"])


BODY_CASES: list[tuple[bytes, str, str]] = [
    (b"{not json", "application/json", "invalid_json"),
    (b"[1, 2]", "application/json", "validation_error"),
    (b"", "application/json", "validation_error"),
    (b"name=x", "application/x-www-form-urlencoded", "validation_error"),
]


@pytest.mark.parametrize(("body", "content_type", "code"), BODY_CASES)
def test_malformed_bodies_are_422(client: TestClient, body: bytes, content_type: str,
                                  code: str) -> None:
    response = client.post(f"{API}/studies", content=body, headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


QUERY_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("studies", {"limit": 0}, "limit", ">= 1"),
    ("studies", {"limit": 21}, "limit", "1..20"),
    ("studies", {"limit": "ten"}, "limit", None),
    ("studies", {"offset": -1}, "offset", ">= 0"),
    ("studies", {"status": "done"}, "status", "finished"),
    ("studies", {"kind": "grid"}, "kind", "width"),
    ("comparisons", {"limit": 21}, "limit", "1..20"),
]


@pytest.mark.parametrize(("route", "params", "field", "allowed"), QUERY_CASES)
def test_bad_query_parameters_name_the_field(
    client: TestClient, route: str, params: dict[str, Any], field: str, allowed: str | None
) -> None:
    response = client.get(f"{API}/{route}", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    if allowed is not None:
        assert allowed in error["allowed"]


CSV = b"a,b,label\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(40))

UPLOAD_CASES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("data.exe", CSV, {}, 422, "file"),
    ("data.csv", CSV, {"name": "../escape"}, 422, "name"),
    ("data.csv", CSV, {"name": "a/b"}, 422, "name"),
    ("data.csv", CSV, {"name": ".hidden"}, 422, "name"),
    ("data.csv", CSV, {"name": "digits"}, 409, "name"),
    ("data.csv", CSV, {"task": "clustering"}, 422, "task"),
    ("data.csv", CSV, {"target_columns": "nope"}, 422, "target_columns"),
    ("data.csv", b"a,b,label\n1,2,x\n3,oops,y\n", {}, 422, "file"),
    ("data.npz", b"not a zip file", {}, 422, "file"),
    ("data.arff", b"@relation x\n@data\n", {}, 422, "file"),
    ("big.csv", b"1,2,3\n" * 1000, {}, 413, "file"),
]


@pytest.mark.parametrize(("filename", "content", "form", "status", "field"), UPLOAD_CASES,
                         ids=[f"{c[0]}-{next(iter(c[2].values()), '')}" for c in UPLOAD_CASES])
def test_bad_uploads_are_rejected_and_leave_nothing(
    client: TestClient, filename: str, content: bytes, form: dict[str, str], status: int,
    field: str,
) -> None:
    folder = Path(client.app.state.settings.data_dir) / "datasets"  # type: ignore[attr-defined]
    before = sorted(folder.iterdir()) if folder.exists() else []
    response = client.post(f"{API}/datasets", files={"file": (filename, io.BytesIO(content))},
                           data=form)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert ".upload-" not in error["message"], "the temporary file name must not leak"
    after = sorted(folder.iterdir()) if folder.exists() else []
    assert after == before



@pytest.mark.parametrize("columns", [["nope"], [999]])
@pytest.mark.parametrize("route", ["studies", "comparisons"])
def test_target_columns_the_dataset_cannot_give_are_refused_at_creation(
    client: TestClient, route: str, columns: list[Any]
) -> None:
    """Refused when posted, not after every trial failed (the study is never created)."""
    body = _spec("dataset.target_columns", columns)
    response = client.post(f"{API}/{route}", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "dataset.target_columns"
    assert "target_columns" in error["message"]
    assert client.get(f"{API}/{route}").json()["total"] == 0


def test_options_and_wrong_methods_name_every_method_of_the_path(client: TestClient) -> None:
    for path, methods in ((f"{API}/studies", "GET, OPTIONS, POST"),
                          (f"{API}/studies/abc", "DELETE, GET, OPTIONS"),
                          (f"{API}/studies/abc/trials/0/model", "GET, OPTIONS")):
        options = client.options(path)
        assert (options.status_code, options.headers["allow"], options.content) == (
            204, methods, b"")
        wrong = client.put(path)
        assert wrong.status_code == 405 and wrong.headers["allow"] == methods
        assert methods in wrong.json()["error"]["message"]


def test_the_schema_states_this_servers_page_limit_and_the_filters(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    listing = schema["paths"][f"{API}/studies"]["get"]["parameters"]
    params = {p["name"]: p["schema"] for p in listing}
    assert {"type": "integer", "minimum": 1, "maximum": 20} in params["limit"]["anyOf"]
    kinds = next(o for o in params["kind"]["anyOf"] if "enum" in o)["enum"]
    assert sorted(kinds) == ["lambda", "lambda_path", "prune_path", "target_size", "width"]
    delete = schema["paths"][f"{API}/studies/{{study_id}}"]["delete"]["responses"]
    assert "409" in delete and "400" in delete
