"""Worker processes that take trials from runnable studies and train them.

``shrinknets worker --storage URL [--device cuda:1] [--concurrency N]`` (or
``python -m service.worker``) runs :func:`run_worker`. Any number of worker
processes on any number of machines may share one storage: claims are atomic
(``service.scheduler.claim_trial``) so every study ends with exactly its budget of
finished trials.
"""

from service.worker._device import check_device, child_devices, resolve_device
from service.worker._main import add_worker_arguments, main, run_from_args
from service.worker._pool import STOP_TIMEOUT_S, WorkerPool, run_worker, worker_command

__all__ = [
    "STOP_TIMEOUT_S",
    "WorkerPool",
    "add_worker_arguments",
    "check_device",
    "child_devices",
    "main",
    "resolve_device",
    "run_from_args",
    "run_worker",
    "worker_command",
]
