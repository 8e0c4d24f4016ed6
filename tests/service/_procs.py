"""Real subprocesses for the service tests: the API (uvicorn), workers, ``serve``.

Every process writes its output to a log file under the test's ``tmp_path``; helpers
raise with the tail of that log when a process dies or a wait times out, so a failing
test shows why. :class:`ProcGroup` (or the ``procs`` fixture below) stops whatever is
still running at the end of a test: SIGTERM, then SIGKILL.

Typical use::

    def test_x(procs, tmp_path):
        env = service_env(url, tmp_path)
        api = procs.api(url, env=env)                  # waits for /healthz
        w = procs.worker(url, env=env)                 # python -m service.worker
        ...
        w.kill9()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.cli import free_port

__all__ = [
    "REPO",
    "Proc",
    "ProcGroup",
    "api_and_workers",
    "free_port",
    "processes_on_storage",
    "procs",
    "service_env",
    "terminate_all",
    "wait_for_http",
    "wait_for_port",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def processes_on_storage(url: str) -> list[int]:
    """Pids of this user's processes (other than this one) started for storage ``url``:
    with ``--storage URL`` on their command line or ``SHRINKNETS_STORAGE_URL`` (as
    normalised by the settings, or as given) in their environment."""
    from service.settings import Settings

    wanted = {url, Settings(storage_url=url).storage_url}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours
            continue
        values = {a.decode(errors="replace") for a in argv}
        values |= {e.decode(errors="replace").removeprefix("SHRINKNETS_STORAGE_URL=")
                   for e in env if e.startswith(b"SHRINKNETS_STORAGE_URL=")}
        if values & wanted:
            found.append(int(entry.name))
    return found


def service_env(
    storage_url: str, tmp_path: Path, *, heartbeat_interval_s: int = 1, grace_period_s: int = 3,
    token: str | None = None, **extra: str,
) -> dict[str, str]:
    """Environment for service subprocesses: storage, data dir, short heartbeats, 1 thread."""
    env = dict(os.environ)
    env.update(
        SHRINKNETS_STORAGE_URL=storage_url,
        SHRINKNETS_DATA_DIR=str(tmp_path / "data"),
        SHRINKNETS_HEARTBEAT_INTERVAL_S=str(heartbeat_interval_s),
        SHRINKNETS_GRACE_PERIOD_S=str(grace_period_s),
        SHRINKNETS_WORKER_POLL_S="0.3",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    if token is not None:
        env["SHRINKNETS_API_TOKEN"] = token
    env.update(extra)
    return env


class Proc:
    """A started subprocess with its log file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(args, env=env, cwd=REPO, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self.base_url: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the process output."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait(self, timeout: float) -> int:
        """Wait for exit; raises AssertionError with the log on timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not exit in {timeout} s:\n{self.log()}") from None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self) -> int:
        """SIGKILL the process group (the process and any children) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.wait(timeout=30)

    def close(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2,
               message: str = "condition", procs: list[Proc] | None = None) -> object:
    """Poll ``predicate`` until truthy; fail with ``message`` (and logs of ``procs``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name} ---\n{p.log()}" for p in procs or [])
            raise AssertionError(f"timed out after {timeout} s waiting for {message}\n{logs}")
        time.sleep(interval)


def wait_for_port(port: int, *, timeout: float = 60, proc: Proc | None = None) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (fails early if ``proc`` died)."""

    def ready() -> bool:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(ready, timeout=timeout, message=f"port {port}", procs=[proc] if proc else None)


def wait_for_http(url: str, *, timeout: float = 60, proc: Proc | None = None) -> httpx.Response:
    """Wait until GET ``url`` answers 200; returns that response."""

    def ready() -> httpx.Response | None:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        try:
            r = httpx.get(url, timeout=5)
        except httpx.HTTPError:
            return None
        return r if r.status_code == 200 else None

    return wait_until(ready, timeout=timeout, message=f"200 from {url}",  # type: ignore[return-value]
                      procs=[proc] if proc else None)


@contextlib.contextmanager
def api_and_workers(
    db: str, tmp_path: Path, *, workers: int
) -> Iterator[tuple[str, dict[str, str], Proc, list[Proc]]]:
    """``(storage URL, env, api, workers)``: the API and ``workers`` worker processes on an
    empty SQLite file (``db="sqlite"``) or a fresh PostgreSQL database (``"postgres"``),
    no token, 10 s grace; everything stops (and the database is dropped) on exit."""
    from _pg import fresh_pg_database

    with contextlib.ExitStack() as resources:
        procs = ProcGroup(tmp_path / "logs")
        if db == "sqlite":
            url = f"sqlite:///{tmp_path / 'data' / 'shrinknets.db'}"
        else:
            url, _name = resources.enter_context(fresh_pg_database())
        env = service_env(url, tmp_path, grace_period_s=10, SHRINKNETS_WORKER_THREADS="1")
        env.pop("SHRINKNETS_API_TOKEN", None)
        resources.callback(procs.close)  # runs first: processes stop before the drop
        api = procs.api(url, env=env)
        yield url, env, api, [procs.worker(url, env=env) for _ in range(workers)]


class ProcGroup:
    """Starts service processes and stops all of them on :meth:`close`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []

    def start(self, name: str, args: list[str], *, env: dict[str, str]) -> Proc:
        proc = Proc(name, args, env=env, log_dir=self.log_dir)
        self.started.append(proc)
        return proc

    def api(self, storage_url: str, *, env: dict[str, str], port: int | None = None) -> Proc:
        """``python -m uvicorn service.app:create_app --factory`` on a free port; waits for
        ``/healthz``. ``proc.base_url`` is ``http://127.0.0.1:<port>``."""
        port = port or free_port()
        env = {**env, "SHRINKNETS_STORAGE_URL": storage_url}
        proc = self.start("api", [PYTHON, "-m", "uvicorn", "service.app:create_app", "--factory",
                                  "--host", "127.0.0.1", "--port", str(port)], env=env)
        proc.base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{proc.base_url}/healthz", proc=proc)
        return proc

    def worker(self, storage_url: str, *, env: dict[str, str], device: str = "cpu",
               concurrency: int = 1) -> Proc:
        """``python -m service.worker --storage URL --device D --concurrency N``."""
        return self.start("worker", [PYTHON, "-m", "service.worker", "--storage", storage_url,
                                     "--device", device, "--concurrency", str(concurrency)],
                          env=env)

    def serve(self, storage_url: str, *, env: dict[str, str], workers: int = 1,
              port: int | None = None) -> Proc:
        """``python -m service.cli serve`` (API + local workers); waits for ``/healthz``."""
        port = port or free_port()
        proc = self.start("serve", [PYTHON, "-m", "service.cli", "serve", "--host", "127.0.0.1",
                                    "--port", str(port), "--workers", str(workers),
                                    "--storage", storage_url], env=env)
        proc.base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{proc.base_url}/healthz", proc=proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.close()


def terminate_all(procs: list[Proc], timeout: float = 60) -> list[int]:
    """SIGTERM every process at once, then collect the exit codes (faster than one by one)."""
    for proc in procs:
        if proc.alive():
            proc.popen.send_signal(signal.SIGTERM)
    return [proc.wait(timeout) for proc in procs]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[ProcGroup]:
    """A :class:`ProcGroup` whose processes are stopped after the test."""
    group = ProcGroup(tmp_path / "logs")
    yield group
    group.close()
