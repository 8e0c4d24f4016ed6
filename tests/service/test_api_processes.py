"""The API and two workers as real processes, on SQLite and on a fresh PostgreSQL database.

uvicorn serves ``service.app:create_app``; two ``python -m service.worker`` processes
take the trials. Over HTTP: create a comparison (tiny spec: digits, max width 8, 2
epochs, 3 trials per study), let the workers finish it, check the exact trial count,
fetch every plot and the CSV, cancel a study mid-run; then the ``optuna`` CLI reads the
same database.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _api_helpers import tiny_spec
from _pg import POSTGRES_SLOW
from _procs import REPO, Proc, api_and_workers, wait_until

API = "/api/v1"
PLOT_NAMES = ["size-space", "pareto", "compute", "widths", "lambda"]


@dataclass
class Stack:
    """A running API server and its two workers on one database."""

    storage_url: str
    env: dict[str, str]
    api: Proc
    workers: list[Proc]

    def client(self) -> httpx.Client:
        assert self.api.base_url is not None
        return httpx.Client(base_url=self.api.base_url, timeout=30)

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` until truthy (HTTP hiccups count as not yet); fail with the logs."""

        def probe() -> Any:
            for proc in (self.api, *self.workers):
                if not proc.alive():
                    raise AssertionError(f"{proc.name} exited while waiting for {what}:\n"
                                         f"{proc.log()}")
            try:
                return check()
            except (httpx.HTTPError, ValueError):
                return None

        return wait_until(probe, timeout=timeout, interval=0.3, message=what,
                          procs=[self.api, *self.workers])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """API + 2 workers on an empty SQLite file, then on a fresh PostgreSQL database."""
    with api_and_workers(request.param, tmp_path, workers=2) as (url, env, api, workers):
        yield Stack(url, env, api, workers)


def _optuna_cli(stack: Stack, *args: str) -> Any:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "optuna"), *args, "--storage", stack.storage_url,
         "-f", "json"],
        cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("stack", POSTGRES_SLOW, indirect=True)
def test_workers_finish_a_comparison_posted_over_http(stack: Stack) -> None:
    client = stack.client()
    stack.wait("two worker heartbeats",
               lambda: len(client.get(f"{API}/healthz").json()["workers"]) >= 2, 90)

    created = client.post(f"{API}/comparisons", json=tiny_spec(name="procs"))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    big = tiny_spec(name="to-cancel", **{"search.n_trials": 200, "training.epochs": 30,
                                         "search.kind": "width"})
    victim = client.post(f"{API}/studies", json=big).json()["id"]

    detail = stack.wait(
        "the comparison to finish",
        lambda: (d := client.get(f"{API}/comparisons/{cid}").json())["status"] == "finished"
        and d, 150)

    assert [a["arm"] for a in detail["arms"]] == ["lambda", "width"]  # the default arms
    for arm in detail["arms"]:  # exactly the budget, nothing failed
        study = arm["study"]
        assert study["progress"]["complete"] == 3, study["progress"]
        assert study["progress"]["running"] == study["progress"]["failed"] == 0
        assert client.get(f"{API}/studies/{study['id']}/trials").json()["total"] == 3
    assert [a["n_complete"] for a in detail["metrics"]["arms"]] == [3, 3]

    for name in PLOT_NAMES:
        for url in (f"{API}/comparisons/{cid}/plots/{name}",
                    f"{API}/studies/{detail['lambda_study']['id']}/plots/{name}"):
            figure = client.get(url)
            assert figure.status_code == 200, figure.text
            assert {"data", "layout"} <= set(figure.json())
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"{API}/studies/{detail['width_study']['id']}/trials.csv").text)))
    assert len(rows) == 3 and all(r["state"] == "COMPLETE" for r in rows)

    # Cancel the big study once the workers train it: running trials stop at their next
    # epoch, no new trial starts, and the budget is never reached.
    stack.wait("a trial of the study to cancel",
               lambda: client.get(f"{API}/studies/{victim}").json()["progress"]["running"] > 0,
               60)
    cancelled = client.post(f"{API}/studies/{victim}/cancel").json()
    assert cancelled["status"] == "cancelled"
    progress = stack.wait(
        "the cancelled study's trials to stop",
        lambda: (p := client.get(f"{API}/studies/{victim}").json()["progress"])["running"] == 0
        and p, 30)
    time.sleep(2)
    after = client.get(f"{API}/studies/{victim}").json()["progress"]
    assert after == progress, "no trial may start after the cancel"
    assert after["done"] < 200

    studies = {s["name"]: s for s in _optuna_cli(stack, "studies")}
    names = {detail["lambda_study"]["study_name"], detail["width_study"]["study_name"]}
    assert names <= set(studies)
    trials = _optuna_cli(stack, "trials", "--study-name", detail["width_study"]["study_name"])
    assert len(trials) == 3 and {t["state"] for t in trials} == {"COMPLETE"}
    best = _optuna_cli(stack, "best-trials", "--study-name",
                       detail["lambda_study"]["study_name"])
    assert best and all(t["state"] == "COMPLETE" for t in best)
