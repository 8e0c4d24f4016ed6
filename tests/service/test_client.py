"""``shrinknets submit``, ``status`` and ``cancel`` against a real ``serve`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from _procs import REPO, ProcGroup, procs, service_env, wait_until

__all__ = ["procs"]  # the fixture, re-exported for pytest

TOKEN = "client-test-token"


def _spec(name: str, **search: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"name": "digits", "max_rows": 300},
        "architecture": {"depth": 2, "max_width": 8},
        "training": {"epochs": 1, "batch_size": 64, "device": "cpu"},
        "search": {"n_trials": 2, "sampler": "random", "objectives": ["val_loss", "params"],
                   **search},
    }


def _cli(args: list[str], *, server: str, token: str | None = TOKEN,
         timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SHRINKNETS_SERVER": server, "PYTHONUNBUFFERED": "1"}
    if token is not None:
        env["SHRINKNETS_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_submit_follow_detach_status_cancel_and_errors(procs: ProcGroup, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'client.db'}"
    server = procs.serve(url, env=service_env(url, tmp_path, token=TOKEN), workers=1).base_url
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(_spec("client follow")))

    # submit a comparison and follow it to the end: one summary line per arm, the URL
    run = _cli(["submit", str(spec_file), "--arms", "lambda,width", "--poll", "0.3"],
               server=server)
    assert run.returncode == 0, run.stdout + run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("comparison ") and "queued (lambda vs width)" in first
    cid = first.split()[1]
    assert f"comparison {cid}: settled" in run.stdout
    assert run.stdout.count("compute share") == 2 and "useful region" in run.stdout
    assert f"dashboard: {server}/comparisons/{cid}" in run.stdout
    assert "%" in run.stderr  # the progress bars
    assert "Traceback" not in run.stderr

    # status of a settled comparison; of a study by its id
    status = _cli(["status", cid], server=server)
    assert status.returncode == 0 and f"comparison {cid}: settled" in status.stdout

    # --detach returns at once with the id; cancel stops it; status says so
    spec_file.write_text(json.dumps(_spec("client detach", n_trials=50)))
    run = _cli(["submit", str(spec_file), "--detach"], server=server)
    assert run.returncode == 0, run.stderr
    sid = run.stdout.split()[1]
    assert run.stdout.startswith(f"study {sid} queued")
    cancelled = _cli(["cancel", sid], server=server)
    assert cancelled.returncode == 0 and f"study {sid}: cancelled" in cancelled.stdout

    def settled() -> bool:
        return httpx.get(f"{server}/api/v1/studies/{sid}").json()["status"] == "cancelled"

    wait_until(settled, timeout=120, message="the study cancelled")
    status = _cli(["status", sid, "--watch", "--poll", "0.3"], server=server)
    assert status.returncode == 0 and f"study {sid}: settled" in status.stdout

    # a bad spec: the API's message naming the field, no traceback
    spec_file.write_text(json.dumps(_spec("client bad", n_trials=0)))
    bad = _cli(["submit", str(spec_file)], server=server)
    assert bad.returncode == 2 and "search.n_trials" in bad.stderr
    assert "Traceback" not in bad.stderr
    spec_file.write_text(json.dumps(_spec("client arms")))
    unknown = _cli(["submit", str(spec_file), "--arms", "lambda,nope"], server=server)
    assert unknown.returncode == 2 and "arms" in unknown.stderr and "nope" in unknown.stderr

    # a wrong token, no token, no server: what to set
    wrong = _cli(["cancel", sid], server=server, token="wrong")
    assert wrong.returncode == 2 and "set SHRINKNETS_API_TOKEN" in wrong.stderr
    missing = _cli(["submit", str(spec_file)], server=server, token=None)
    assert missing.returncode == 2 and "SHRINKNETS_API_TOKEN" in missing.stderr
    gone = _cli(["status", sid], server="http://127.0.0.1:9", timeout=60)
    assert gone.returncode == 2 and "cannot reach a ShrinkNets server" in gone.stderr
    assert "--server" in gone.stderr
    nothing = _cli(["status", "no-such-id"], server=server)
    assert nothing.returncode == 2 and "no study or comparison" in nothing.stderr


def test_the_client_settles_on_the_service_s_settled_statuses() -> None:
    """The client keeps its own copy (it must start without the storage's imports): the
    same statuses as ``service.storage``."""
    from service import client
    from service.storage import SETTLED_STATUSES

    assert set(client._SETTLED) == set(SETTLED_STATUSES)
