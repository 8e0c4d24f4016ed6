"""The comparison routes: arms, metrics, exports, shared budgets and bad arms.

The HTTP API in-process (FastAPI TestClient); trials are trained in the test process
by the functions a worker uses (claim → run → finish). Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from _api_helpers import API, THREE_ARMS, app_for, assert_error, tiny_spec
from fastapi.testclient import TestClient

from studies.arms import ARM_COLOURS, ARM_LABELS, ARMS


def test_comparison_creates_both_studies_and_deletes_as_one(client: TestClient) -> None:
    response = client.post(f"{API}/comparisons", json=tiny_spec())
    assert response.status_code == 201, response.text
    created = response.json()
    assert list(created["arms"]) == ["lambda", "width"]  # the old body: λ against width
    lam = client.get(f"{API}/studies/{created['lambda_study_id']}").json()
    width = client.get(f"{API}/studies/{created['width_study_id']}").json()
    assert (lam["kind"], width["kind"]) == ("lambda", "width")
    assert lam["comparison_id"] == width["comparison_id"] == created["id"]
    assert created["arms"] == {"lambda": lam["id"], "width": width["id"]}

    listed = client.get(f"{API}/comparisons").json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "queued"
    assert [a["study"]["id"] for a in listed["items"][0]["arms"]] == [lam["id"], width["id"]]
    conflict = assert_error(client.delete(f"{API}/studies/{lam['id']}"), 409, "conflict")
    assert created["id"] in conflict["message"]

    cancelled = client.post(f"{API}/comparisons/{created['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["width_study"]["status"] == "cancelled"
    assert client.delete(f"{API}/comparisons/{created['id']}").status_code == 204
    assert_error(client.get(f"{API}/studies/{lam['id']}"), 404, "not_found")
    assert client.get(f"{API}/comparisons").json()["total"] == 0


def test_comparison_detail_has_metrics_of_both_sides(
    finished: tuple[TestClient, str, str],
) -> None:
    client, _, cid = finished
    detail = client.get(f"{API}/comparisons/{cid}").json()
    assert detail["status"] == "finished"
    assert detail["lambda_study"]["kind"] == "lambda" and detail["width_study"]["kind"] == "width"
    metrics = detail["metrics"]
    lam, width = metrics["arms"]
    assert (lam["arm"], width["arm"]) == ("lambda", "width") and metrics["baseline"] == "width"
    assert lam["n_complete"] == width["n_complete"] == 3
    assert width["hypervolume"] > 0 and width["compute_share"] == 1.0 and width["reached"]
    assert metrics["level"] == width["hypervolume"]
    assert "useful region" in metrics["reference"]


def test_comparison_with_three_arms_has_every_arm_with_metrics(
    finished_arms: tuple[TestClient, str],
) -> None:
    client, cid = finished_arms
    detail = client.get(f"{API}/comparisons/{cid}").json()
    assert detail["status"] == "finished"
    assert [(a["arm"], a["label"], a["colour"]) for a in detail["arms"]] == [
        (arm, ARM_LABELS[arm], ARM_COLOURS[arm]) for arm in THREE_ARMS
    ]
    hyperband = client.get(detail["arms"][2]["study"]["links"]["self"]).json()
    assert hyperband["kind"] == "width" and hyperband["spec"]["search"]["pruner"] == "hyperband"
    assert all(a["study"]["progress"]["done"] == 3 for a in detail["arms"])
    metrics = detail["metrics"]
    assert [a["arm"] for a in metrics["arms"]] == THREE_ARMS
    for arm in metrics["arms"]:
        assert arm["n_complete"] + arm["n_pruned"] == 3, arm
        assert arm["n_complete"] >= 1 and arm["best_val_loss"] > 0
        assert arm["total_cost_macs"] > 0 and len(arm["curve"]) == 3
        assert {"hypervolume", "raw_hypervolume", "compute_share", "reached",
                "hv_at_baseline_compute", "best_loss_at_params", "smallest_within_loss"} <= set(arm)
        assert arm["best_loss_at_params"][-1]["params_at_most"] == metrics["region"]["max_params"]
    assert metrics["baseline"] == "width"
    assert all(set(shares) == set(THREE_ARMS) for shares in metrics["sensitivity"].values())
    figure = client.get(f"{API}/comparisons/{cid}/plots/pareto").json()
    names = " ".join(t.get("name", "") for t in figure["data"])
    assert all(ARM_LABELS[arm] in names for arm in THREE_ARMS)


def test_comparison_exports_download_as_json_and_csv(
    finished_arms: tuple[TestClient, str],
) -> None:
    client, cid = finished_arms
    links = client.get(f"{API}/comparisons/{cid}").json()["links"]
    exported = client.get(links["export.json"])
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/json"
    assert exported.headers["content-disposition"] == (
        f'attachment; filename="comparison-{cid}.json"'
    )
    body = exported.json()
    assert body["spec"]["name"] == "arms" and "arms" not in body["spec"]
    assert [a["arm"] for a in body["comparison"]["arms"]] == THREE_ARMS
    assert [a["arm"] for a in body["metrics"]["arms"]] == THREE_ARMS
    assert body["metrics"]["reference"] and body["metrics"]["sensitivity"]

    table = client.get(f"{API}/comparisons/{cid}/export.csv")
    assert table.status_code == 200
    assert table.headers["content-type"].startswith("text/csv")
    assert table.headers["content-disposition"] == f'attachment; filename="comparison-{cid}.csv"'
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["arm"] for r in rows] == [arm for arm in THREE_ARMS for _ in range(3)]
    assert {r["state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    assert all(float(r["cumulative_cost_macs"]) > 0 for r in rows)
    assert_error(client.get(f"{API}/comparisons/nope/export.csv"), 404, "not_found")


def test_four_arms_are_created_listed_cancelled_and_deleted_together(client: TestClient) -> None:
    spec = {**tiny_spec(name="four", **{"search.objectives": ["val_loss"]}), "arms": list(ARMS)}
    created = client.post(f"{API}/comparisons", json=spec)
    assert created.status_code == 201, created.text
    body = created.json()
    assert list(body["arms"]) == list(ARMS)
    hyperband = body["arms"]["width_hyperband"]
    assert body["links"]["study:width_hyperband"] == f"{API}/studies/{hyperband}"
    path = client.get(f"{API}/studies/{body['arms']['lambda_path']}").json()
    assert path["kind"] == "lambda_path" and path["comparison_id"] == body["id"]

    listed = client.get(f"{API}/comparisons").json()["items"][0]
    assert [a["arm"] for a in listed["arms"]] == list(ARMS)
    assert listed["lambda_study"]["id"] == body["arms"]["lambda"]
    cancelled = client.post(f"{API}/comparisons/{body['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert {a["study"]["status"] for a in cancelled["arms"]} == {"cancelled"}
    assert client.delete(f"{API}/comparisons/{body['id']}").status_code == 204
    for sid in body["arms"].values():
        assert_error(client.get(f"{API}/studies/{sid}"), 404, "not_found")
    assert client.get(f"{API}/studies").json()["total"] == 0


def test_a_lambda_path_spec_defaults_to_a_path_against_width_search(client: TestClient) -> None:
    spec = tiny_spec(name="path", **{"search.kind": "lambda_path"})
    created = client.post(f"{API}/comparisons", json=spec).json()
    assert list(created["arms"]) == ["lambda_path", "width"]
    assert created["lambda_study_id"] == created["arms"]["lambda_path"]
    spec = {**tiny_spec(name="no width"), "arms": ["lambda", "width_hyperband"]}
    created = client.post(f"{API}/comparisons", json=spec).json()
    assert created["width_study_id"] is None and "width_study" not in created["links"]


def test_arms_share_a_compute_budget(client: TestClient) -> None:
    spec = tiny_spec(name="budget", **{"search.n_trials": None, "search.max_macs": 1e12,
                                       "search.objectives": ["val_loss"]})
    created = client.post(f"{API}/comparisons",
                          json={**spec, "arms": ["lambda_path", "width", "width_hyperband"]})
    assert created.status_code == 201, created.text
    specs = {arm: client.get(f"{API}/studies/{sid}").json()["spec"]["search"]
             for arm, sid in created.json()["arms"].items()}
    assert all(s["max_macs"] == 1e12 for s in specs.values())
    assert specs["lambda_path"]["n_trials"] == 20  # a path needs grid points
    assert specs["width"]["n_trials"] is None and specs["width_hyperband"]["n_trials"] is None
    assert specs["width_hyperband"]["pruner"] == "hyperband"


@pytest.mark.parametrize(
    ("arms", "words"),
    [(["lambda"], "at least 2"), ([], "at least 2"), (["lambda", "lambda"], "at most once"),
     (["lambda", "grid"], "'grid'"), (["width", "target_size"], "'target_size'")],
)
def test_bad_arms_are_422_naming_arms_and_creating_nothing(
    client: TestClient, arms: list[str], words: str,
) -> None:
    response = client.post(f"{API}/comparisons", json={**tiny_spec(), "arms": arms})
    error = assert_error(response, 422, "validation_error", "arms")
    assert words in error["message"]
    assert all(arm in error["allowed"] for arm in ARMS)
    assert client.get(f"{API}/comparisons").json()["total"] == 0
    assert client.get(f"{API}/studies").json()["total"] == 0


def test_bad_arms_and_a_spec_over_the_limits_are_reported_together(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, max_trials=5)) as client:
        spec = {**tiny_spec(**{"search.n_trials": 6}), "arms": ["width"]}
        response = client.post(f"{API}/comparisons", json=spec)
        error = assert_error(response, 422, "validation_error", "arms")
        assert [d["field"] for d in error["details"]] == ["arms", "search.n_trials"]
        assert client.get(f"{API}/comparisons").json()["total"] == 0


def test_an_unknown_arm_and_an_invalid_field_are_named_together(client: TestClient) -> None:
    spec = {**tiny_spec(**{"search.n_trials": 0}), "arms": ["lambda", "nope"]}
    error = client.post(f"{API}/comparisons", json=spec).json()["error"]
    fields = {d["field"]: d for d in error["details"]}
    assert set(fields) == {"search.n_trials", "arms"}
    assert "nope" in fields["arms"]["message"]
    assert fields["arms"]["allowed"].startswith("at least 2 different arms of: lambda")
    assert client.get(f"{API}/comparisons").json()["total"] == 0


def test_comparisons_are_paged_with_the_total(client: TestClient) -> None:
    ids = [client.post(f"{API}/comparisons", json=tiny_spec(name=f"c{i}")).json()["id"]
           for i in range(3)]
    first = client.get(f"{API}/comparisons", params={"limit": 2}).json()
    rest = client.get(f"{API}/comparisons", params={"limit": 2, "offset": 2}).json()
    assert (first["total"], len(first["items"]), rest["total"], len(rest["items"])) == (3, 2, 3, 1)
    assert {c["id"] for c in first["items"] + rest["items"]} == set(ids)
