"""The study routes: create, list, cancel, delete, detail, trials and their export.

The HTTP API in-process (FastAPI TestClient); trials are trained in the test process
by the functions a worker uses (claim → run → finish). Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import csv
import io
import json

from _api_helpers import API, assert_error, tiny_spec
from fastapi.testclient import TestClient


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


def test_lam_scale_penalty_weight_and_path_round_trip(client: TestClient) -> None:
    """The λ methods' choices go from the body into the stored spec and back unchanged,
    and the trials of the study train with them."""
    body = tiny_spec(**{"training.lam_scale": "none", "training.penalty_weight": "params",
                        "search.kind": "lambda_path", "search.path.warmup_epochs": 0.5,
                        "search.path.epochs_per_step": 0.25})
    created = client.post(f"{API}/studies", json=body)
    assert created.status_code == 201, created.text
    spec = client.get(created.json()["links"]["self"]).json()["spec"]
    assert (spec["training"]["lam_scale"], spec["training"]["beta_optimizer"]) == ("none", "prox")
    assert spec["training"]["penalty_weight"] == "params"
    assert spec["search"]["path"]["warmup_epochs"] == 0.5
    assert spec["search"]["path"]["epochs_per_step"] == 0.25
    assert spec["search"]["lam_min"] is None  # the β step's default range applies
    bad = client.post(f"{API}/studies", json=tiny_spec(**{"training.lam_scale": "adam"}))
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "training.lam_scale"
    assert "'grad'" in bad.json()["error"]["allowed"]


def test_the_legacy_beta_step_is_read_as_lam_scale(client: TestClient) -> None:
    """A body (or a stored spec) written with ``training.beta_step`` keeps working: it is
    stored in the new words; an unknown legacy word or a contradiction names the field."""
    created = client.post(f"{API}/studies", json=tiny_spec(**{"training.beta_step": "prox"}))
    assert created.status_code == 201, created.text
    training = client.get(created.json()["links"]["self"]).json()["spec"]["training"]
    assert training["lam_scale"] == "none" and "beta_step" not in training
    for changes in ({"training.beta_step": "adam"},
                    {"training.beta_step": "prox", "training.lam_scale": "grad"}):
        bad = client.post(f"{API}/studies", json=tiny_spec(**changes))
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["field"] == "training.beta_step"
