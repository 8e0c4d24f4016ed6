"""Figures and cached answers: plot routes, the caches of finished and running studies.

The HTTP API in-process (FastAPI TestClient); trials are trained in the test process
by the functions a worker uses (claim → run → finish). Fixtures: ``conftest.py``.
"""

from __future__ import annotations

import pytest
from _api_helpers import API, PLOT_NAMES, assert_error, run_trials, tiny_spec
from fastapi.testclient import TestClient


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
