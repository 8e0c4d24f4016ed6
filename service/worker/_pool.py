"""Worker processes: ``run_worker`` and the subprocess pool behind ``--concurrency N``.

Each worker is its own process (own CUDA context, own GIL, own torch threads), so
``--concurrency N`` starts N copies of ``python -m service.worker`` and supervises
them: a child that dies unexpectedly is restarted; on stop every child receives
SIGTERM, gets ``STOP_TIMEOUT_S`` to mark its trial, then is killed.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from service.settings import Settings
from service.worker._device import check_device, child_devices, resolve_device
from service.worker._reap import PARENT_PID_ENV, fail_work_of_dead_process

__all__ = ["STOP_TIMEOUT_S", "WorkerPool", "run_worker", "worker_command"]

_log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0
_RESTART_DELAY_S = 5.0


def worker_command(*, device: str) -> list[str]:
    """The command line of one worker process (``--concurrency 1``). Its storage URL and
    log level come through the environment (:meth:`WorkerPool.child_env`), so ``ps``
    shows no password."""
    return [sys.executable, "-m", "service.worker", "--device", device, "--concurrency", "1"]


class WorkerPool:
    """N worker subprocesses on one storage; used by ``worker --concurrency N`` and ``serve``.

    Args:
        settings: The storage URL and log level every child uses (passed in its
            environment as ``SHRINKNETS_STORAGE_URL`` and ``SHRINKNETS_LOG_LEVEL``).
        devices: One device per child.
        env: Environment of the children (defaults to this process's; settings such as
            ``SHRINKNETS_HEARTBEAT_INTERVAL_S`` are inherited).
        on_exit: Called with ``(pid, exit code)`` when a child exits on its own, before it
            is restarted (``serve`` and ``run_worker`` fail the dead child's trial at once:
            ``service.worker._reap``); its errors are logged.
    """

    def __init__(self, settings: Settings, devices: Sequence[str],
                 env: dict[str, str] | None = None,
                 on_exit: Callable[[int, int | None], object] | None = None) -> None:
        self.settings = settings
        self.devices = list(devices)
        self.env = dict(os.environ if env is None else env)
        self.on_exit = on_exit
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.devices)

    def start(self) -> None:
        for i in range(len(self.devices)):
            self._spawn(i)

    def child_env(self) -> dict[str, str]:
        """The environment of a child: this pool's, plus the settings it must share."""
        return {**self.env, PARENT_PID_ENV: str(os.getpid()),
                "SHRINKNETS_STORAGE_URL": self.settings.storage_url,
                "SHRINKNETS_LOG_LEVEL": self.settings.log_level}

    def _spawn(self, i: int) -> None:
        self.procs[i] = subprocess.Popen(
            worker_command(device=self.devices[i]), env=self.child_env()
        )
        _log.info("started worker process %d (pid %d) on %s", i, self.procs[i].pid,  # type: ignore[union-attr]
                  self.devices[i])

    def supervise(self, stop_event: threading.Event, *, poll_s: float = 0.5) -> None:
        """Restart children that exit on their own until ``stop_event`` is set."""
        while not stop_event.wait(poll_s):
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    _log.warning("worker process %d (pid %d) exited with %s; restarting in %.0f s",
                                 i, proc.pid, proc.returncode, _RESTART_DELAY_S)
                    self.procs[i] = None
                    if self.on_exit is not None:
                        try:
                            self.on_exit(proc.pid, proc.returncode)
                        except Exception:  # e.g. the database is down: the heartbeat rule
                            _log.exception("could not fail the trial of pid %d", proc.pid)
                    if stop_event.wait(_RESTART_DELAY_S):
                        return
                    self._spawn(i)

    def stop(self, *, timeout_s: float = STOP_TIMEOUT_S) -> list[int | None]:
        """SIGTERM every child, wait up to ``timeout_s``, SIGKILL the rest.

        Returns:
            The children's exit codes.
        """
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: list[int | None] = []
        for proc in self.procs:
            if proc is None:
                codes.append(None)
                continue
            try:
                codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                _log.warning("worker pid %d did not stop in %.0f s; killing it", proc.pid,
                             timeout_s)
                proc.kill()
                codes.append(proc.wait())
        return codes


def run_worker(
    settings: Settings, *, device: str, concurrency: int, stop_event: threading.Event
) -> int:
    """Run worker(s) on ``settings.storage_url`` until ``stop_event`` is set.

    Args:
        settings: Storage URL, heartbeat/grace periods, torch threads per process.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; an absent GPU falls back to CPU
            with a warning.
        concurrency: 1 runs the loop in this process; N > 1 starts N worker processes
            (with ``auto`` and several GPUs: one per GPU, round robin).
        stop_event: Set it (SIGTERM handler) to stop: running trials are marked failed
            and re-enqueued, then the process(es) exit.

    Returns:
        The exit code: 0 after a clean stop.

    Raises:
        ValueError: ``concurrency < 1`` or an invalid device string.
        StorageUnavailableError: the storage cannot be opened.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency={concurrency} must be at least 1")
    if concurrency > 1:
        pool = WorkerPool(settings, child_devices(check_device(device), concurrency),
                          on_exit=functools.partial(fail_work_of_dead_process, settings))
        pool.start()
        try:
            pool.supervise(stop_event)
        finally:
            pool.stop()
        return 0

    import torch

    from service.worker._loop import Worker

    torch.set_num_threads(settings.worker_threads)
    worker = Worker(settings, device=resolve_device(device), stop_event=stop_event)
    return worker.run()
