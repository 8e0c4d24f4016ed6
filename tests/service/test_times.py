"""Times are RFC 3339 with an offset everywhere the API answers them, whatever the zone."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _api_helpers import app_for, run_trials, tiny_spec
from fastapi.testclient import TestClient

API = "/api/v1"


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process runs in Asia/Tokyo (UTC+9), as a worker and API there would."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text!r} has no offset"
    return parsed


def test_every_time_has_an_offset_and_names_the_right_instant(tmp_path: Path, tokyo: None) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    with TestClient(app_for(tmp_path)) as client:
        created = client.post(f"{API}/studies", json=tiny_spec(**{"search.n_trials": 1}))
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        run_trials(client.app, sid, 1)  # type: ignore[arg-type]
        after = datetime.now(UTC) + timedelta(seconds=1)
        study = client.get(f"{API}/studies/{sid}").json()
        (trial,) = client.get(f"{API}/studies/{sid}/trials").json()["items"]
        exported = client.get(f"{API}/studies/{sid}/trials.json").json()["trials"][0]
        row = next(csv.DictReader(io.StringIO(client.get(f"{API}/studies/{sid}/trials.csv").text)))
        schema = client.get("/openapi.json").json()["components"]["schemas"]
    times = [study["created_at"], trial["datetime_start"], trial["datetime_complete"],
             exported["datetime_complete"], row["datetime_complete"]]
    for text in times:  # Tokyo's local clock would be 9 h ahead of these if read as UTC
        assert before <= _instant(text) <= after, (text, before, after)
    assert schema["StudyOut"]["properties"]["created_at"]["format"] == "date-time"
