"""Shared pieces of the hardening tests: real processes, fresh databases, trial inspection.

Processes come from a :class:`ForkServer` (see ``_forkserver.py``): a parent that has
imported torch, optuna and the service once and forks real worker and API processes in
milliseconds, so a test can kill and replace dozens of them. ``spawn_cli_worker`` runs
the actual ``python -m service.worker`` command for the cases where exec matters.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from _pg import PG_ADMIN_URL
from sqlalchemy.engine import Engine

from service.cli import free_port

REPO = Path(__file__).resolve().parents[2]
API = "/api/v1"

#: Fast heartbeats so a killed worker's trial is failed and retried within seconds. The
#: grace period is 6 heartbeats: with three workers training on two cores and another
#: process busy, a live worker's heartbeat thread was once starved past a 3 s grace.
GRACE_PERIOD_S = 6
FAST_ENV: dict[str, str] = {
    "SHRINKNETS_HEARTBEAT_INTERVAL_S": "1",
    "SHRINKNETS_GRACE_PERIOD_S": str(GRACE_PERIOD_S),
    "SHRINKNETS_WORKER_POLL_S": "0.2",
    "SHRINKNETS_WORKER_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}



def tiny_spec(name: str, *, n_trials: int = 4, epochs: int = 3, **training: Any) -> dict[str, Any]:
    """A study spec whose trials train in well under a second on one core; its λ trials
    are independent of each other (each trains ``epochs``), which the epoch counts of the
    fault tests rely on: the shared warm start's crash path is tested on its own
    (``tests/service/test_warm_start_workers.py``)."""
    return {
        "name": name,
        "dataset": {"name": "digits"},
        "architecture": {"kind": "mlp", "depth": 2, "max_width": 16},
        "training": {"epochs": epochs, "batch_size": 32, "device": "cpu", **training},
        "search": {"n_trials": n_trials, "sampler": "random", "seed": 0, "warm_start": False},
    }


def pg_admin(sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on the admin database (autocommit); its rows, if any."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def drop_connections(db: str, *, block: bool) -> int:
    """Terminate every backend of database ``db`` (and refuse new ones when ``block``;
    ``ALTER DATABASE "db" ALLOW_CONNECTIONS true`` lets them in again)."""
    if block:
        pg_admin(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
    rows = pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    )
    return len(rows)


def inspect_engine(url: str) -> Engine:
    """A plain engine of the test's own (not the service's cached one), for assertions."""
    args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        args["connect_args"] = {"timeout": 30}
    return sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, **args)


@dataclass
class TrialRow:
    trial_id: int
    number: int
    state: str
    attrs: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)


def trial_rows(engine: Engine, study_name: str) -> list[TrialRow]:
    """Every trial of an Optuna study, read with plain SQL (user and system attributes)."""
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT t.trial_id, t.number, t.state FROM trials t JOIN studies s "
            "ON s.study_id = t.study_id WHERE s.study_name = :n ORDER BY t.number"),
            {"n": study_name}).all()
        trials = {r[0]: TrialRow(int(r[0]), int(r[1]), str(r[2]).split(".")[-1]) for r in rows}
        if not trials:
            return []
        ids = ",".join(str(i) for i in trials)
        for table, target in (("trial_user_attributes", "attrs"),
                              ("trial_system_attributes", "system")):
            for tid, key, value in conn.execute(sqlalchemy.text(
                    f"SELECT trial_id, key, value_json FROM {table} WHERE trial_id IN ({ids})")):
                getattr(trials[tid], target)[key] = json.loads(value)
    return sorted(trials.values(), key=lambda t: t.number)


def running_histories(engine: Engine) -> dict[tuple[str, int], str | None]:
    """(study name, trial number) → raw ``history`` attribute JSON of every RUNNING trial.

    A retried trial starts with the history its failed attempt left (Optuna copies the
    user attributes), so callers compare against the value they first saw.
    """
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT s.study_name, t.number, a.value_json FROM trials t "
            "JOIN studies s ON s.study_id = t.study_id "
            "LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'history' "
            "WHERE t.state = 'RUNNING'")).all()
    return {(str(name), int(number)): history for name, number, history in rows}


# -- processes -------------------------------------------------------------------------
@dataclass
class Proc:
    """A process the test started (forked or exec'd), its log, and its log read position."""

    pid: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    _pos: int = 0

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie of an exec'd process counts as dead
            return Path(f"/proc/{self.pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """``kill -9`` and wait until the process is gone."""
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            if self.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=0.05)
            else:
                time.sleep(0.01)

    def terminate(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            self.kill()

    def new_lines(self) -> list[str]:
        """Log lines written since the last call."""
        try:
            with self.log.open("rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self._pos += end
        return data[:end].decode(errors="replace").splitlines()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class ForkServer:
    """The parent of forked workers and APIs (see ``_forkserver.py``)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._lock = threading.Lock()
        with (log_dir / "fork.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_forkserver.py"))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=REPO, env={**os.environ, **FAST_ENV, "PYTHONPATH": str(REPO)},
            )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError((log_dir / "fork.log").read_text(errors="replace"))
        self.children: list[Proc] = []

    def _spawn(self, request: dict[str, Any]) -> Proc:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
        child = Proc(int(answer["pid"]), Path(request["log"]))
        self.children.append(child)
        return child

    def worker(self, storage_url: str, log: Path, env: Mapping[str, str] | None = None) -> Proc:
        """A worker process: ``shrinknets worker --storage URL --device cpu``."""
        return self._spawn({"kind": "worker", "log": str(log), "env": {**FAST_ENV, **(env or {})},
                            "argv": ["--storage", storage_url, "--device", "cpu"]})

    def api(self, port: int, log: Path, env: Mapping[str, str], *,
            honour_permissions: bool = False, fsize_bytes: int | None = None) -> Proc:
        """uvicorn with ``service.app:create_app`` on 127.0.0.1:``port``.

        Args:
            honour_permissions: Even as root, the process obeys file permissions.
            fsize_bytes: Largest file the process may write (a full disk beyond it).
        """
        return self._spawn({"kind": "api", "log": str(log), "port": port,
                            "honour_permissions": honour_permissions,
                            "fsize_bytes": fsize_bytes, "env": {**FAST_ENV, **env}})

    def close(self) -> None:
        for child in self.children:
            child.kill()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(timeout=10)


def spawn_cli(args: list[str], log: Path, env: Mapping[str, str]) -> Proc:
    """An exec'd command (``python -m ...``) with its output in ``log``."""
    handle = log.open("wb")
    popen = subprocess.Popen([sys.executable, *args], stdout=handle, stderr=subprocess.STDOUT,
                             cwd=REPO, env={**os.environ, **FAST_ENV, **env},
                             start_new_session=True)
    return Proc(popen.pid, log, popen)


def wait_http(base: str, proc: Proc, *, timeout: float = 60) -> None:
    """Wait until ``base``/healthz answers at all (200 or 503)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"the API exited:\n{proc.text()[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not answer within {timeout}s:\n{proc.text()[-4000:]}")


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2, what: str = "") -> None:
    """Poll ``predicate()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")


def study_statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """Optuna study name → (service status, error) from ``snk_studies``."""
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT study_name, status, error FROM snk_studies")).all()
    return {str(r[0]): (str(r[1]), r[2]) for r in rows}


@dataclass
class Api:
    """A running API process and its base URL."""

    proc: Proc
    base: str
    env: dict[str, str]

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{API}{path}", timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{API}{path}", timeout=30, **kw)


def start_api(fork: ForkServer, storage_url: str, data_dir: Path, log: Path, *,
              port: int | None = None, **kw: Any) -> Api:
    """Fork an API on ``storage_url`` and wait until it answers."""
    port = port or free_port()
    env = {"SHRINKNETS_STORAGE_URL": storage_url, "SHRINKNETS_DATA_DIR": str(data_dir)}
    proc = fork.api(port, log, env, **kw)
    api = Api(proc, f"http://127.0.0.1:{port}", env)
    wait_http(api.base, proc)
    return api


def assert_clean_error(response: httpx.Response) -> dict[str, Any]:
    """The body is the API's error shape with a message and no stack trace."""
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text
    body = response.json()
    error = body["error"]
    assert error["message"] and isinstance(error["message"], str)
    return dict(error)
