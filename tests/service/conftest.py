"""Fixtures of the API tests (``test_api_*.py``): an app on an empty database, and apps
whose studies and comparisons have finished (built once per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _api_helpers import API, THREE_ARMS, app_for, run_trials, tiny_spec
from fastapi.testclient import TestClient


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    """A client of an app on an empty database (SQLite, then PostgreSQL)."""
    with TestClient(app_for(tmp_path, db_url)) as c:
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
