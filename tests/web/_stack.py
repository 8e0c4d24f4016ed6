"""Real processes for the browser tests: uvicorn, a worker, and a path-prefix proxy.

The proxy plays the reverse proxy of a deployment under ``/prefix``: it strips the
prefix and forwards to a uvicorn started with ``--root-path /prefix``, which is how
the dashboard is served behind nginx/Traefik.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from service.cli import free_port

__all__ = ["PrefixProxy", "free_port", "start_server", "start_worker", "stop", "wait_http"]


def _spawn(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )


def start_server(env: Mapping[str, str], port: int, log: Path, *,
                 root_path: str | None = None) -> subprocess.Popen[bytes]:
    """``uvicorn --factory service.app:create_app`` on 127.0.0.1:``port``."""
    args = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if root_path:
        args += ["--root-path", root_path]
    return _spawn(args, env, log)


def start_worker(env: Mapping[str, str], storage_url: str, log: Path) -> subprocess.Popen[bytes]:
    """``python -m service.worker`` on the CPU."""
    args = [sys.executable, "-m", "service.worker", "--storage", storage_url, "--device", "cpu"]
    return _spawn(args, env, log)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200.

    Raises:
        RuntimeError: the process exited or the deadline passed (with its log's tail).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({proc.returncode}):\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{tail(log)}")


def tail(log: Path, n: int = 4000) -> str:
    """The end of a process log."""
    return log.read_text(errors="replace")[-n:] if log.exists() else "(no log)"


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


class PrefixProxy:
    """A tiny reverse proxy: ``http://127.0.0.1:<port>/prefix/x`` → ``upstream/x``."""

    def __init__(self, prefix: str, upstream_port: int) -> None:
        self.prefix = prefix.rstrip("/")
        self.port = free_port()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if not self.path.startswith(proxy.prefix + "/"):
                    self.send_error(404, "outside the proxied prefix")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path[len(proxy.prefix):], body, headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PrefixProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
