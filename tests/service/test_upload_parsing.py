"""Uploads are parsed a bounded number at a time; the rest wait, then get 503."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service.api import _uploads
from service.api.errors import ApiError
from service.settings import Settings


def test_parallel_uploads_queue_for_a_parser(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upload_parsers=2)
    inside, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def parse() -> None:
        nonlocal inside, most
        with _uploads._parsing(settings):
            with lock:
                inside += 1
                most = max(most, inside)
            release.wait(10)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=parse) for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while inside < 2 and time.monotonic() < deadline:  # two got in; three wait
        time.sleep(0.01)
    assert inside == 2
    release.set()
    for t in threads:
        t.join(10)
    assert most == 2 and inside == 0


def test_an_upload_that_waits_too_long_gets_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, upload_parsers=1)
    monkeypatch.setattr(_uploads, "PARSE_WAIT_S", 0.05)
    with _uploads._parsing(settings), pytest.raises(ApiError) as refused, \
            _uploads._parsing(settings):
        pass
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "60"}
