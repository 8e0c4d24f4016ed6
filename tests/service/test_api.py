"""The HTTP API in-process (FastAPI TestClient): routes, the error shape, paging, exports,
plots, caching, datasets and health. Trials are trained in the test process by the same
storage functions a worker uses (claim → run → finish), on a tiny spec."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _api_helpers import app_for, run_trials, tiny_spec
from _pg import fresh_pg_database
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.deps import get_backend
from studies.arms import ARM_COLOURS, ARM_LABELS, ARMS

API = "/api/v1"
PLOT_NAMES = ["size-space", "pareto", "compute", "widths", "lambda"]
THREE_ARMS = ["lambda", "width", "width_hyperband"]


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is the API's error shape with this status, code and field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "field", "allowed"} <= set(error)
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"] and "Traceback" not in error["message"]
    return dict(error)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'api.db'}"
        return
    with fresh_pg_database() as (url, _name):
        yield url


@pytest.fixture
def client(tmp_path: Path, storage_url: str) -> Iterator[TestClient]:
    """A client of an app on an empty database (SQLite, then PostgreSQL)."""
    with TestClient(app_for(tmp_path, storage_url)) as c:
        yield c


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str]]:
    """A client, a finished study (3 trials) and a finished comparison (3 + 3 trials)."""
    app = app_for(tmp_path_factory.mktemp("finished"))
    with TestClient(app) as c:
        study = c.post(f"{API}/studies", json=tiny_spec()).json()["id"]
        run_trials(app, study, 3)
        comparison = c.post(f"{API}/comparisons", json=tiny_spec(name="cmp")).json()
        run_trials(app, comparison["lambda_study_id"], 3)
        run_trials(app, comparison["width_study_id"], 3)
        yield c, study, comparison["id"]


@pytest.fixture(scope="module")
def finished_arms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """A client and a finished 3-arm comparison (λ, width, width + Hyperband; 3 trials each,
    single objective so that Hyperband may prune)."""
    app = app_for(tmp_path_factory.mktemp("arms"))
    with TestClient(app) as c:
        spec = tiny_spec(name="arms", **{"search.objectives": ["val_loss"],
                                         "dataset.max_rows": 400})
        created = c.post(f"{API}/comparisons", json={**spec, "arms": THREE_ARMS})
        assert created.status_code == 201, created.text
        for sid in created.json()["arms"].values():
            run_trials(app, sid, 3)
        yield c, created.json()["id"]


def test_a_setting_the_search_does_not_use_is_said(client: TestClient) -> None:
    """A λ path's posted λ range is not used while the grid is calibrated: the answer and
    the study's detail say so; a comparison's answer names the arm."""
    spec = tiny_spec(**{"name": "calibrated", "search.kind": "lambda_path",
                        "search.lam_min": 0.01, "search.lam_max": 0.3})
    created = client.post(f"{API}/studies", json=spec).json()
    assert len(created["notes"]) == 1 and "path.calibrate" in created["notes"][0]
    detail = client.get(created["links"]["self"]).json()
    assert detail["notes"] == created["notes"]
    spec["search"]["path"] = {"calibrate": False}
    assert client.post(f"{API}/studies", json=spec).json()["notes"] == []
    del spec["search"]["path"]
    spec["name"] = "calibrated arms"
    compared = client.post(f"{API}/comparisons",
                           json={**spec, "arms": ["lambda_path", "width"]}).json()
    assert [n.split(":")[0] for n in compared["notes"]] == ["lambda_path"]


def test_create_study_answers_201_with_id_and_links(client: TestClient) -> None:
    response = client.post(f"{API}/studies", json=tiny_spec())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "tiny" and body["kind"] == "lambda" and body["status"] == "queued"
    assert body["links"]["self"] == f"{API}/studies/{body['id']}"
    detail = client.get(body["links"]["self"]).json()
    assert detail["spec"]["architecture"]["max_width"] == 8
    assert detail["progress"] == {"complete": 0, "running": 0, "failed": 0, "pruned": 0,
                                  "waiting": 0, "budget": 3, "done": 0, "fraction": 0.0,
                                  # no compute budget: no spending
                                  "spent_macs": None, "spent_seconds": None, "max_macs": None,
                                  "max_seconds": None, "overshoot_macs": None,
                                  "trials_bound": True}
    assert detail["best_trials"] == [] and detail["pareto_front"] == []


def test_list_studies_filters_and_paginates(client: TestClient) -> None:
    ids = [client.post(f"{API}/studies", json=tiny_spec(name=f"s{i}")).json()["id"]
           for i in range(3)]
    client.post(f"{API}/studies", json=tiny_spec(**{"search.kind": "width"}))
    client.post(f"{API}/studies/{ids[0]}/cancel")

    page = client.get(f"{API}/studies", params={"limit": 2}).json()
    assert (page["total"], page["offset"], page["limit"], len(page["items"])) == (4, 0, 2, 2)
    rest = client.get(f"{API}/studies", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 2
    seen = {s["id"] for s in page["items"] + rest["items"]}
    assert len(seen) == 4 and set(ids) <= seen

    widths = client.get(f"{API}/studies", params={"kind": "width"}).json()
    assert widths["total"] == 1 and widths["items"][0]["kind"] == "width"
    cancelled = client.get(f"{API}/studies", params={"status": "cancelled"}).json()
    assert [s["id"] for s in cancelled["items"]] == [ids[0]]
    assert client.get(f"{API}/studies", params={"status": "queued"}).json()["total"] == 3


def test_cancel_then_delete_a_study(client: TestClient) -> None:
    sid = client.post(f"{API}/studies", json=tiny_spec()).json()["id"]
    cancelled = client.post(f"{API}/studies/{sid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.delete(f"{API}/studies/{sid}").status_code == 204
    assert_error(client.get(f"{API}/studies/{sid}"), 404, "not_found")
    assert_error(client.delete(f"{API}/studies/{sid}"), 404, "not_found")


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


def test_finished_study_detail_has_progress_best_trials_and_front(
    finished: tuple[TestClient, str, str],
) -> None:
    client, sid, _ = finished
    detail = client.get(f"{API}/studies/{sid}").json()
    assert detail["status"] == "finished"
    assert detail["progress"]["complete"] == 3 and detail["progress"]["fraction"] == 1.0
    assert detail["best_trials"], "a finished multi-objective study has best trials"
    front = detail["pareto_front"]
    assert front and all(p["params"] > 0 and p["val_loss"] > 0 for p in front)
    losses = [p["val_loss"] for p in front]
    assert losses == sorted(losses)
    sizes = [p["params"] for p in front]
    assert sizes == sorted(sizes, reverse=True)


def test_trials_are_paginated_and_exported(finished: tuple[TestClient, str, str]) -> None:
    client, sid, _ = finished
    first = client.get(f"{API}/studies/{sid}/trials", params={"limit": 2}).json()
    second = client.get(f"{API}/studies/{sid}/trials", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == 3 and [t["number"] for t in first["items"]] == [0, 1]
    assert [t["number"] for t in second["items"]] == [2]
    trial = first["items"][0]
    assert trial["state"] == "COMPLETE" and "lam" in trial["params"]
    assert "history" not in trial["attrs"] and trial["attrs"]["params"] > 0

    csv_response = client.get(f"{API}/studies/{sid}/trials.csv")
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert len(rows) == 3 and {r["state"] for r in rows} == {"COMPLETE"}
    assert float(rows[0]["value_val_loss"]) > 0 and json.loads(rows[0]["attr_final_widths"])

    exported = client.get(f"{API}/studies/{sid}/trials.json").json()
    assert exported["spec"]["name"] == "tiny" and len(exported["trials"]) == 3
    assert len(exported["trials"][0]["attrs"]["history"]) == 2  # one record per epoch


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_study_and_comparison_plots_are_plotly_json(
    finished: tuple[TestClient, str, str], name: str
) -> None:
    client, sid, cid = finished
    for url in (f"{API}/studies/{sid}/plots/{name}", f"{API}/comparisons/{cid}/plots/{name}"):
        response = client.get(url)
        assert response.status_code == 200, response.text
        figure = response.json()
        assert set(figure) >= {"data", "layout"}
    assert client.get(f"{API}/studies/{sid}/plots/{name.replace('-', '_')}").status_code == 200


def test_unknown_plot_name_is_404_listing_the_allowed_names(
    finished: tuple[TestClient, str, str],
) -> None:
    client, sid, cid = finished
    for url in (f"{API}/studies/{sid}/plots/heatmap", f"{API}/comparisons/{cid}/plots/x"):
        error = assert_error(client.get(url), 404, "not_found", "name")
        assert all(name in error["allowed"] for name in PLOT_NAMES)


def test_figures_and_metrics_of_finished_studies_are_cached(
    finished: tuple[TestClient, str, str],
) -> None:
    client, sid, cid = finished
    cache = client.app.state.cache  # type: ignore[attr-defined]
    url = f"{API}/studies/{sid}/plots/pareto"
    first = client.get(url).content
    hits = cache.hits
    assert client.get(url).content == first
    assert cache.hits == hits + 1
    metrics = client.get(f"{API}/comparisons/{cid}").json()["metrics"]
    assert client.get(f"{API}/comparisons/{cid}").json()["metrics"] == metrics
    assert cache.hits == hits + 2


def test_answers_about_finished_studies_are_cached_and_unchanged(
    finished: tuple[TestClient, str, str],
) -> None:
    client, sid, _ = finished
    cache = client.app.state.cache  # type: ignore[attr-defined]
    detail = client.get(f"{API}/studies/{sid}").json()
    page = client.get(f"{API}/studies/{sid}/trials?offset=1&limit=2").json()
    hits = cache.hits
    assert client.get(f"{API}/studies/{sid}").json() == detail
    assert client.get(f"{API}/studies/{sid}/trials?offset=1&limit=2").json() == page
    assert cache.hits == hits + 2
    assert detail["progress"]["complete"] == 3 and detail["best_trials"]
    assert page["total"] == 3 and [t["number"] for t in page["items"]] == [1, 2]
    full = client.get(f"{API}/studies/{sid}/trials").json()["items"]
    assert full[1:] == page["items"], "a cached page is the same slice of the trials"


def test_a_study_cancelled_mid_trial_shows_the_trial_when_it_ends(client: TestClient) -> None:
    """Ended studies are cached once settled; a study cancelled while a trial runs is not
    settled until that trial is told, and every answer before and after stays fresh."""
    from service.scheduler import claim_trial, finish_trial
    from service.storage import get_study_record

    sid = client.post(f"{API}/studies", json=tiny_spec(**{"search.n_trials": 3})).json()["id"]
    backend = client.app.state.backends.get(client.app.state.settings)  # type: ignore[attr-defined]
    trial = claim_trial(backend.storage, backend.engine, get_study_record(backend.engine, sid))
    assert trial is not None
    assert client.get(f"{API}/studies/{sid}").json()["progress"]["running"] == 1
    assert client.post(f"{API}/studies/{sid}/cancel").json()["status"] == "cancelled"
    for _ in range(2):
        cancelled = client.get(f"{API}/studies/{sid}").json()
        assert (cancelled["status"], cancelled["progress"]["running"]) == ("cancelled", 1)
        items = client.get(f"{API}/studies/{sid}/trials").json()["items"]
        assert [t["state"] for t in items] == ["RUNNING"]
    record = get_study_record(backend.engine, sid)
    assert finish_trial(backend.storage, backend.engine, record, trial, values=[0.5, 10.0])
    for _ in range(2):  # the second answer comes from the cache
        ended = client.get(f"{API}/studies/{sid}").json()
        assert (ended["progress"]["running"], ended["progress"]["complete"]) == (0, 1)
        assert [t["number"] for t in ended["best_trials"]] == [0]
        items = client.get(f"{API}/studies/{sid}/trials").json()["items"]
        assert [t["state"] for t in items] == ["COMPLETE"]


def test_figures_of_running_studies_follow_new_trials_in_the_background(
    client: TestClient,
) -> None:
    import time

    sid = client.post(f"{API}/studies", json=tiny_spec(**{"search.n_trials": 3})).json()["id"]
    url = f"{API}/studies/{sid}/plots/pareto"

    def points() -> int:
        figure = client.get(url).json()
        return sum(len(t.get("x") or []) for t in figure["data"] if t["name"].endswith("trials"))

    run_trials(client.app, sid, 1)  # type: ignore[arg-type]
    assert points() == 1  # the first request builds the figure
    run_trials(client.app, sid, 1)  # type: ignore[arg-type]
    assert points() in (1, 2)  # the last build at once; a rebuild starts in the background
    deadline = time.monotonic() + 30
    while points() != 2:
        assert time.monotonic() < deadline, "the figure never showed the second trial"
        time.sleep(0.05)
    assert client.get(f"{API}/studies/{sid}").json()["status"] == "running"


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


def test_healthz_reports_storage_and_workers(tmp_path: Path, storage_url: str) -> None:
    from service.storage import record_worker_heartbeat

    app = app_for(tmp_path, storage_url)
    with TestClient(app) as client:
        record_worker_heartbeat(app.state.backends.get(app.state.settings).engine,
                                f"w-{tmp_path.name}", host="h", device="cpu")
        for url in (f"{API}/healthz", "/healthz"):
            body = client.get(url).json()
            assert body["status"] == "ok"
            assert body["storage"] == ("sqlite" if storage_url.startswith("sqlite") else
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


def test_links_carry_the_root_path_behind_a_proxy(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, root_path="/shrink")) as client:
        created = client.post(f"{API}/studies", json=tiny_spec()).json()
        assert created["links"]["self"] == f"/shrink{API}/studies/{created['id']}"
        assert client.get(f"{API}/studies/{created['id']}").status_code == 200


def test_beta_step_penalty_weight_and_path_round_trip(client: TestClient) -> None:
    """The λ methods' choices go from the body into the stored spec and back unchanged,
    and the trials of the study train with them."""
    body = tiny_spec(**{"training.beta_step": "prox", "training.penalty_weight": "params",
                        "search.kind": "lambda_path", "search.path.warmup_epochs": 0.5,
                        "search.path.epochs_per_step": 0.25})
    created = client.post(f"{API}/studies", json=body)
    assert created.status_code == 201, created.text
    spec = client.get(created.json()["links"]["self"]).json()["spec"]
    assert spec["training"]["beta_step"] == "prox"
    assert spec["training"]["penalty_weight"] == "params"
    assert spec["search"]["path"]["warmup_epochs"] == 0.5
    assert spec["search"]["path"]["epochs_per_step"] == 0.25
    assert spec["search"]["lam_min"] is None  # the β step's default range applies
    bad = client.post(f"{API}/studies", json=tiny_spec(**{"training.beta_step": "adam"}))
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "training.beta_step"
    assert "'layer_normalised'" in bad.json()["error"]["allowed"]
