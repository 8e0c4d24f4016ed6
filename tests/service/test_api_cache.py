"""The API's in-process caches: the LRU with a byte budget and background refreshes."""

from __future__ import annotations

import threading
import time

import pytest

from service.api._cache import ResultCache


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_lru_drops_the_least_recently_used_within_entries_and_bytes() -> None:
    cache = ResultCache(max_entries=3, max_bytes=10)
    for key in "abc":
        cache.get_or_compute(key, lambda k=key: k * 3)  # 3 bytes each: 9 in all
    cache.get_or_compute("a", lambda: "never")  # a is now the most recent
    cache.get_or_compute("d", lambda: "dddd")  # 13 bytes > 10: b goes first, then c
    assert cache.get_or_compute("a", lambda: "new a") == "aaa"
    assert cache.get_or_compute("b", lambda: "new b") == "new b"
    assert len(cache) <= 3
    assert cache.get_or_compute(None, lambda: "uncached") == "uncached"


def test_refresh_serves_the_last_value_and_rebuilds_once_in_the_background() -> None:
    cache = ResultCache()
    release = threading.Event()
    calls: list[int] = []

    def build(version: int) -> str:
        calls.append(version)
        if version > 1:
            release.wait(10)
        return f"v{version}"

    assert cache.get_or_refresh("fig", 1, lambda: build(1)) == "v1"  # first: inline
    assert cache.get_or_refresh("fig", 1, lambda: build(1)) == "v1" and calls == [1]
    for _ in range(5):  # a newer version: the old value at once, one rebuild in flight
        assert cache.get_or_refresh("fig", 2, lambda: build(2)) == "v1"
    _wait_for(lambda: calls == [1, 2])
    release.set()
    _wait_for(lambda: cache.get_or_refresh("fig", 2, lambda: build(2)) == "v2")
    assert calls == [1, 2]
    assert cache.get_or_refresh("other", 2, lambda: build(1)) == "v1"  # a new key: inline


def test_a_failed_background_rebuild_keeps_the_value_and_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = ResultCache()
    cache.get_or_refresh("fig", 1, lambda: "v1")
    attempts: list[int] = []

    def broken() -> str:
        attempts.append(1)
        raise RuntimeError("database went away")

    assert cache.get_or_refresh("fig", 2, broken) == "v1"
    _wait_for(lambda: len(attempts) == 1)
    _wait_for(lambda: "background rebuild" in caplog.text)
    assert cache.get_or_refresh("fig", 2, lambda: "v2") == "v1"  # retried in the background
    _wait_for(lambda: cache.get_or_refresh("fig", 2, lambda: "v2") == "v2")


def test_a_changed_detail_is_rebuilt_only_after_every_s() -> None:
    cache = ResultCache()
    builds: list[str] = []

    def build(tag: str) -> str:
        builds.append(tag)
        return tag

    assert cache.get_or_refresh("fig", 1, lambda: build("e1"), detail=1, every_s=0.3) == "e1"
    for _ in range(3):  # new epochs, but the build is younger than every_s: no rebuild
        assert cache.get_or_refresh("fig", 1, lambda: build("e2"), detail=2, every_s=0.3) == "e1"
    assert builds == ["e1"]
    time.sleep(0.35)
    cache.get_or_refresh("fig", 1, lambda: build("e2"), detail=2, every_s=0.3)
    _wait_for(lambda: cache.get_or_refresh("fig", 1, lambda: "x", detail=2, every_s=0.3) == "e2")
    # a new version (a trial changed state) starts a rebuild at once, whatever its age
    cache.get_or_refresh("fig", 2, lambda: build("v2"), detail=2, every_s=60)
    _wait_for(lambda: cache.get_or_refresh("fig", 2, lambda: "x", detail=2, every_s=60) == "v2")
    assert builds == ["e1", "e2", "v2"]
