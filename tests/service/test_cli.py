"""The ``shrinknets`` command and the settings it reads: real processes, real SQLite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _procs import REPO, processes_on_storage, service_env, wait_until
from pydantic import ValidationError

from service.cli import build_parser
from service.errors import UnsafeSettingsError
from service.settings import Settings, get_settings, is_loopback_host
from service.storage import live_workers, make_engine

SHRINKNETS = str(Path(sys.executable).with_name("shrinknets"))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHRINKNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHRINKNETS_MAX_TRIALS", "7")
    monkeypatch.setenv("SHRINKNETS_API_TOKEN", "s3cret")
    settings = Settings()
    assert settings.storage_url == f"sqlite:///{tmp_path.resolve() / 'shrinknets.db'}"
    assert settings.max_trials == 7
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert Settings(storage_url="postgresql://u@h/db").storage_url == "postgresql+psycopg://u@h/db"
    get_settings.cache_clear()
    assert get_settings() is get_settings()
    get_settings.cache_clear()


def test_unsafe_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="grace_period_s=5 must exceed heartbeat"):
        Settings(heartbeat_interval_s=5, grace_period_s=5)
    with pytest.raises(UnsafeSettingsError, match="SHRINKNETS_API_TOKEN"):
        Settings(host="0.0.0.0").check_safe_to_serve()
    Settings(host="0.0.0.0", api_token="t").check_safe_to_serve()  # type: ignore[arg-type]
    Settings(host="::1").check_safe_to_serve()
    with pytest.raises(UnsafeSettingsError):
        Settings(host="0.0.0.0", api_token=" ").check_safe_to_serve()  # type: ignore[arg-type]
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.2")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("example.org")


def test_every_subcommand_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--port", "9000", "--workers", "0"]).workers == 0
    args = parser.parse_args(["worker", "--storage", "sqlite:///x.db", "--device", "cuda:1",
                              "--concurrency", "2"])
    assert (args.storage, args.device, args.concurrency) == ("sqlite:///x.db", "cuda:1", 2)
    assert parser.parse_args(["demo", "--exit-when-done"]).exit_when_done
    assert parser.parse_args(["train", "--epochs", "1"]).epochs == 1
    assert parser.parse_args(["study", "run", "spec.json"]).func is not None
    out = subprocess.run([SHRINKNETS, "--help"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    for command in ("serve", "worker", "demo", "train", "study", "paper"):
        assert command in out


def test_demo_refuses_bad_arms_before_starting_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    run = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo", "--arms", "lambda,grid", "--storage", url],
        env=service_env(url, tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "arms" in run.stderr and "'grid'" in run.stderr and "width_hyperband" in run.stderr
    assert not (tmp_path / "x.db").exists(), "nothing was started"


def test_serve_refuses_public_host_without_token(tmp_path: Path) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    env.pop("SHRINKNETS_API_TOKEN", None)
    run = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "SHRINKNETS_API_TOKEN" in run.stderr and "0.0.0.0" in run.stderr
    assert not (tmp_path / "x.db").exists(), "nothing was started"


def test_demo_runs_a_comparison_end_to_end(tmp_path: Path) -> None:
    """``shrinknets demo`` starts serve (API + 1 worker), posts a comparison of the arms
    asked for over HTTP, reports progress, one summary line per arm and the dashboard URL,
    and stops everything on exit."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = service_env(url, tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo", "--trials", "2", "--epochs", "1",
         "--arms", "lambda,width,width_hyperband", "--exit-when-done", "--storage", url],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "(lambda vs width vs width_hyperband on digits)" in out
    assert "demo: lambda: 2/2 done" in out and "| width: 2/2 done" in out
    assert "width_hyperband: 2/2 done" in out
    summary = out.split("demo: finished\n", 1)[1]
    for label in ("λ search", "width search ", "width search + Hyperband"):
        assert f"  {label}" in summary and "useful hypervolume" in summary
    assert summary.count("compute share") == 3 and "total " in summary
    assert "useful region: val loss <" in summary and "level = the width arm" in summary
    assert "demo: dashboard http://127.0.0.1:" in out and "/comparisons/" in out
    # serve stopped its worker cleanly: the heartbeat row is gone and no process is left
    assert live_workers(make_engine(url), within_s=3600) == []
    assert processes_on_storage(url) == []


def test_sigterm_to_demo_stops_its_server_and_workers(tmp_path: Path) -> None:
    """``kill <demo pid>`` (what a process manager sends) ends serve and its worker too,
    and the storage URL is on no process's command line."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "demo", "--trials", "1", "--epochs", "1",
         "--storage", url],
        env=service_env(url, tmp_path), cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # the comparison is queued: serve and its worker run
            if line.startswith("demo: comparison"):
                break
        started = [p for p in processes_on_storage(url) if p != demo.pid]
        assert started, "serve and its worker run on the demo's storage"
        for pid in started:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert tmp_path.name not in argv, argv
        demo.terminate()
        assert demo.wait(timeout=120) == 0
        wait_until(lambda: processes_on_storage(url) == [], timeout=30,
                   message="serve and its worker stopped")
    finally:
        if demo.poll() is None:
            demo.kill()
