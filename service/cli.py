"""The ``shrinknets`` command: ``serve``, ``worker``, ``demo``, ``export``, ``predict``,
``submit``, ``status``, ``cancel`` (``service.client``) and (when installed) ``train``,
``study`` and ``paper``.

``serve`` runs the API (uvicorn, ``service.app:create_app``) plus N local worker
processes on one storage and shuts all of them down together; ``demo`` starts
``serve`` on a free port, posts a comparison over HTTP (λ search, the λ path and width
search on equal compute, or the ``--arms`` given) and prints its progress, one summary
line per arm and the dashboard URL (following it with ``service.client.follow``, as
``submit`` does).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from service._client_cli import CLIENT_COMMANDS, add_client_commands
from service._model_cli import add_model_commands
from service.errors import ServiceError
from service.settings import Settings

__all__ = ["DEMO_SPEC", "build_parser", "free_port", "main"]

_log = logging.getLogger("service.cli")

#: The demo's comparison: small enough for a couple of minutes on two CPU cores. Every arm
#: gets the same compute budget (``--budget`` full trainings, set when it runs).
DEMO_SPEC: dict[str, Any] = {
    "name": "demo digits",
    "dataset": {"name": "digits"},
    "architecture": {"kind": "mlp", "depth": 2, "max_width": 64},
    "training": {"epochs": 20, "batch_size": 64, "lr": 3e-3},
    "search": {"n_trials": None, "sampler": "tpe", "seed": 0,
               "objectives": ["val_loss", "params"]},
}
#: The demo's arms: λ search, the λ path and width search.
DEMO_ARMS = ("lambda", "lambda_path", "width")


def _demo_spec(args: argparse.Namespace, arms: list[str] | None) -> dict[str, Any]:
    """The demo's comparison request: :data:`DEMO_SPEC` with ``--epochs``, ``--trials`` and
    a compute budget of ``--budget`` trainings of the ``max_width`` static net."""
    from studies.equal_budget import full_training_macs  # loads torch: the demo only
    from studies.objectives import load_study_data
    from studies.spec import load_spec

    spec = dict(DEMO_SPEC, training={**DEMO_SPEC["training"], "epochs": args.epochs},
                search={**DEMO_SPEC["search"], "n_trials": args.trials})
    parsed = load_spec({**spec, "search": {**spec["search"], "max_macs": 1.0}})
    full = full_training_macs(parsed, load_study_data(parsed))
    spec["search"]["max_macs"] = args.budget * full
    spec["arms"] = list(arms or DEMO_ARMS)
    return spec


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


# -- serve ----------------------------------------------------------------------------
def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.storage import open_backend, redact_url
    from service.worker import WorkerPool, child_devices
    from service.worker._reap import fail_work_of_dead_process

    settings = _settings(host=args.host, port=args.port, workers=args.workers,
                         storage_url=args.storage, log_level=args.log_level)
    settings.check_safe_to_serve()
    logging.getLogger().setLevel(settings.log_level.upper())
    if settings.log_level in ("warning", "error"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Create the tables once before the API and the workers race to do it.
    open_backend(settings)
    pool = WorkerPool(settings, child_devices(args.device, settings.workers),
                      on_exit=functools.partial(fail_work_of_dead_process, settings))
    stop = threading.Event()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host,
                                           port=settings.port, log_level=settings.log_level,
                                           access_log=settings.log_level == "debug"))
    # uvicorn re-raises the signal that stopped it once its own handlers are removed; ours
    # then only records it, so the workers below are always stopped too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: stop.set())
    pool.start()
    supervisor = threading.Thread(target=pool.supervise, args=(stop,), daemon=True)
    supervisor.start()
    print(f"shrinknets: API on http://{settings.host}:{settings.port} "
          f"(docs /docs), {settings.workers} worker(s), storage {redact_url(settings.storage_url)}",
          flush=True)
    try:
        server.run()  # returns after SIGINT/SIGTERM (uvicorn's graceful shutdown)
    finally:
        stop.set()
        supervisor.join(timeout=10)
        pool.stop()
    return 0


# -- demo -----------------------------------------------------------------------------
def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"the server exited with code {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServiceError(f"the server did not answer {url} within {timeout_s:.0f} s")


def _arm_list(text: str | None) -> list[str] | None:
    """``--arms lambda,width_hyperband`` as a validated list (None: the server's default).

    Raises:
        ConfigError: an unknown or repeated arm, or fewer than two (a ``ValueError``).
    """
    if text is None:
        return None
    from studies.arms import check_arms  # loads torch: only when arms are given

    return list(check_arms([a.strip() for a in text.split(",") if a.strip()]))


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_demo(args: argparse.Namespace) -> int:
    from service.client import ApiClient, follow, summary

    arms = _arm_list(args.arms)  # before anything starts
    settings = _settings(storage_url=args.storage)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port",
           str(port), "--workers", str(args.workers), "--log-level", "warning"]
    signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM stops the server too (finally)
    # the storage URL travels in the environment: argv is visible to every user (ps)
    proc = subprocess.Popen(cmd, env={**os.environ, "SHRINKNETS_STORAGE_URL": settings.storage_url})
    token = settings.api_token.get_secret_value() if settings.api_token is not None else None
    try:
        _wait_http(f"{base}/healthz", proc, timeout_s=90)
        spec = _demo_spec(args, arms)
        with ApiClient(base, token) as client:
            made = client.submit(spec)
            print(f"demo: comparison {made.id} queued ({' vs '.join(made.arms)} on digits)",
                  flush=True)

            def server_alive() -> None:
                if proc.poll() is not None:
                    raise ServiceError(f"the server exited with code {proc.returncode}")

            detail = follow(client, made.kind, made.id, out=sys.stderr, bars=False,
                            on_line=lambda line: print(f"demo: {line}", flush=True),
                            alive=server_alive)
        print("demo: finished\n" + summary(made.kind, detail), flush=True)
        print(f"demo: dashboard {base}/comparisons/{made.id}", flush=True)
        if args.exit_when_done:
            return 0
        print("demo: serving until Ctrl-C", flush=True)
        proc.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- worker ---------------------------------------------------------------------------
def _cmd_worker(args: argparse.Namespace) -> int:
    from service.worker import run_from_args

    return run_from_args(args)


# -- parser ---------------------------------------------------------------------------
def _optional(parsers: argparse._SubParsersAction[argparse.ArgumentParser], module: str,
              attr: str, add: Callable[[Any, Any], None]) -> None:
    """Register commands from another package if it is installed and importable."""
    try:
        hook = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        _log.debug("%s.%s unavailable: %s", module, attr, e)
        return
    add(parsers, hook)


def _add_train(parsers: argparse._SubParsersAction[argparse.ArgumentParser],
               train_demo: Callable[..., str]) -> None:
    p = parsers.add_parser("train", help="train one ShrinkNet on a bundled dataset (no service)")
    p.add_argument("--dataset", default="digits", help="bundled dataset name")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lam", type=float, default=None, help="λ: larger gives a smaller network")
    p.add_argument("--hidden", default=None, help="starting widths, e.g. 256,256")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=None)

    def run(args: argparse.Namespace) -> int:
        kwargs: dict[str, Any] = {k: getattr(args, k) for k in ("epochs", "lam", "device", "seed")
                                  if getattr(args, k) is not None}
        if args.hidden:
            kwargs["hidden"] = tuple(int(w) for w in args.hidden.split(","))
        print(train_demo(args.dataset, **kwargs))
        return 0

    p.set_defaults(func=run)


_OWN_COMMANDS = ("serve", "worker", "demo", *CLIENT_COMMANDS)


def build_parser(*, optional: bool = True) -> argparse.ArgumentParser:
    """The ``shrinknets`` parser.

    Args:
        optional: Also register ``train``, ``study`` and ``paper`` from the other packages
            when they are importable (they load torch; ``serve``/``worker``/``demo`` skip
            them so a worker pool's parent and the API start fast).
    """
    from service.worker import add_worker_arguments

    parser = argparse.ArgumentParser(
        prog="shrinknets", description="ShrinkNets: train, search, serve and compare.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="API + local worker processes on one storage")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1; "
                       "a non-loopback host needs SHRINKNETS_API_TOKEN)")
    serve.add_argument("--port", type=int, default=None, help="default 8000")
    serve.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default SHRINKNETS_WORKERS or 1; "
                       "0 = API only)")
    serve.add_argument("--device", default="auto", help="device of the local workers")
    serve.add_argument("--log-level", default=None,
                       choices=["debug", "info", "warning", "error"],
                       help="default SHRINKNETS_LOG_LEVEL or info (debug adds access logs)")
    serve.add_argument("--storage", metavar="URL", default=None,
                       help="storage URL (default SHRINKNETS_STORAGE_URL or "
                       "<data_dir>/shrinknets.db)")
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="run trials of queued studies (any machine)")
    add_worker_arguments(worker)
    worker.set_defaults(func=_cmd_worker)

    demo = sub.add_parser("demo", help="serve + a comparison on digits (default: λ search, "
                          "λ path and width search on equal compute), with progress")
    demo.add_argument("--port", type=int, default=None, help="default: a free port")
    demo.add_argument("--workers", type=int, default=1)
    demo.add_argument("--budget", type=float, default=6.0,
                      help="every arm's compute budget, in trainings of the max_width static "
                      "net (default 6)")
    demo.add_argument("--trials", type=int, default=None,
                      help="at most this many trials per study (a λ path: its grid points); "
                      "default: the budget decides")
    demo.add_argument("--epochs", type=int, default=DEMO_SPEC["training"]["epochs"])
    demo.add_argument("--storage", metavar="URL", default=None)
    demo.add_argument("--arms", default=None, metavar="ARM,ARM[,...]",
                      help="the arms to compare, comma-separated, at least 2 of lambda, "
                      "lambda_path, prune_path, width, width_hyperband, width_mo_asha (default: "
                      "lambda,lambda_path,width)")
    demo.add_argument("--exit-when-done", action="store_true",
                      help="stop the server once the comparison finished (tests, CI)")
    demo.set_defaults(func=_cmd_demo)
    add_model_commands(sub)
    add_client_commands(sub)

    if optional:
        _optional(sub, "shrinknets_core._demo", "train_demo", _add_train)
        _optional(sub, "studies.cli", "add_study_commands", lambda s, hook: hook(s))
        _optional(sub, "studies.paper.cli", "add_paper_commands", lambda s, hook: hook(s))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shrinknets`` command. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(optional=command not in _OWN_COMMANDS).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s [%(process)d] %(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        return int(args.func(args) or 0)
    except (ServiceError, ValueError) as e:
        print(f"shrinknets {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
