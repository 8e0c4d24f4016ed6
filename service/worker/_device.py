"""Which torch device a worker process trains on."""

from __future__ import annotations

import logging
import re

__all__ = ["check_device", "child_devices", "resolve_device"]

_log = logging.getLogger(__name__)
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(requested: str) -> str:
    """Validate a device string (without touching torch); returns it normalised.

    Raises:
        ValueError: not ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``.
    """
    requested = requested.strip().lower()
    if not _DEVICE_RE.match(requested):
        raise ValueError(
            f"device={requested!r} is not valid; use auto, cpu, mps, cuda or cuda:N"
        )
    return requested


def resolve_device(requested: str) -> str:
    """Turn a requested device into one this process can use.

    Args:
        requested: ``auto`` (first GPU if any, else CPU), ``cpu``, ``mps``, ``cuda`` or
            ``cuda:N``.

    Returns:
        The device string to train on. A GPU that is absent falls back to ``cpu`` with a
        warning, so a worker started with the wrong flag still works (slowly).

    Raises:
        ValueError: ``requested`` is not one of the forms above.
    """
    import torch  # here, so a pool's parent process never loads torch

    requested = check_device(requested)
    if requested == "cpu":
        return "cpu"
    if requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if requested == "mps":
        if torch.backends.mps.is_available():
            return "mps"
        _log.warning("device 'mps' is not available here; falling back to cpu")
        return "cpu"
    index = int(requested.split(":")[1]) if ":" in requested else 0
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= count:
        _log.warning(
            "device %r is not available (this machine has %d CUDA device(s)); "
            "falling back to cpu", requested, count,
        )
        return "cpu"
    return f"cuda:{index}"


def child_devices(requested: str, concurrency: int) -> list[str]:
    """Devices for ``concurrency`` worker processes: with ``auto`` and several GPUs the
    processes are spread over them (one process per GPU first); otherwise all use
    ``requested``."""
    if requested.strip().lower() != "auto":
        return [requested] * concurrency
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested.strip().lower() == "auto" and count > 0:
        return [f"cuda:{i % count}" for i in range(concurrency)]
    return [requested] * concurrency
