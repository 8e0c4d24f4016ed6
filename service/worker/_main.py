"""Command-line entry of a worker (``shrinknets worker``, ``python -m service.worker``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from service.errors import ServiceError
from service.settings import Settings

__all__ = ["add_worker_arguments", "install_stop_handlers", "main", "run_from_args"]


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage``, ``--device`` and ``--concurrency`` to ``parser``."""
    parser.add_argument("--storage", metavar="URL", default=None,
                        help="Optuna RDB URL (default: SHRINKNETS_STORAGE_URL or the SQLite "
                             "file under SHRINKNETS_DATA_DIR)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda or cuda:N (absent GPU: CPU with a warning)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="worker processes to run (one per GPU is usual)")


def install_stop_handlers(stop_event: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop_event`` (the current trial is marked, then exit 0)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping after the current epoch", signum)
        stop_event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_from_args(args: argparse.Namespace) -> int:
    """Run a worker from parsed ``add_worker_arguments`` options. Returns the exit code."""
    from service.worker._pool import run_worker

    overrides = {"storage_url": args.storage} if args.storage else {}
    try:
        settings = Settings(**overrides)
    except ValueError as e:
        print(f"shrinknets worker: invalid settings: {e}", file=sys.stderr)
        return 2
    stop_event = threading.Event()
    install_stop_handlers(stop_event)
    try:
        return run_worker(settings, device=args.device, concurrency=args.concurrency,
                          stop_event=stop_event)
    except (ServiceError, ValueError) as e:
        print(f"shrinknets worker: {e}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m service.worker [--storage URL] [--device D] [--concurrency N]``."""
    parser = argparse.ArgumentParser(prog="shrinknets worker",
                                     description="Run trials of queued studies.")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    level = os.environ.get("SHRINKNETS_LOG_LEVEL", "info").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "INFO",
                        format="%(asctime)s %(levelname)s [worker %(process)d] %(message)s")
    return run_from_args(args)
