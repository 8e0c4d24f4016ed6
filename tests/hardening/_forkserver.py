"""A pre-imported parent that forks real worker and API processes on demand.

Importing torch, optuna and the service takes several seconds per process on two
busy cores, so the fault tests, which kill and replace workers dozens of times, fork
them from this parent instead of exec-ing ``python -m service.worker``. The parent
imports the code but opens no database connection and runs no torch operation, so a
forked child starts clean and runs exactly the code a command-line worker runs
(``service.worker._main.main``) or the API (``uvicorn`` on ``service.app:create_app``).

Protocol (one JSON object per line on stdin, one answer line on stdout)::

    {"kind": "worker", "argv": [...], "env": {...}, "log": "/path"}  -> {"pid": 123}
    {"kind": "api", "port": 8123, "env": {...}, "log": "/path"}     -> {"pid": 124}

Optional keys: ``honour_permissions`` (a root child drops the capabilities that let it
ignore file permissions) and ``fsize_bytes`` (an ``RLIMIT_FSIZE``: writes past it fail
with ``EFBIG``, a full disk for that process).

Children are reaped automatically (SIGCHLD ignored in the parent).
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _preload() -> None:
    import fastapi  # noqa: F401
    import optuna  # noqa: F401
    import sqlalchemy  # noqa: F401
    import torch
    import uvicorn  # noqa: F401

    import service.app
    import service.worker._loop
    import service.worker._main  # noqa: F401
    import studies.execute  # noqa: F401
    from shrinknets_core.datasets import load_dataset

    torch.set_num_threads(1)  # no thread pool exists in the parent, so forking stays safe
    load_dataset("digits")  # warms the loaders' lazy imports and file caches
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # imports torch._dynamo (seconds)


def _drop_permission_override() -> None:
    """Drop root's CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER (capset(2)), so
    file permissions apply to this process as to any user."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    keep = ~((1 << 1) | (1 << 2) | (1 << 3)) & 0xFFFFFFFF
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & keep)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _child(request: dict[str, object]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fsize = request.get("fsize_bytes")
    if fsize is not None:  # a "full disk": writes past this size fail with EFBIG
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (int(str(fsize)), int(str(fsize))))
    if request.get("honour_permissions") and os.geteuid() == 0:
        _drop_permission_override()
    env = request.get("env") or {}
    assert isinstance(env, dict)
    os.environ.update({str(k): str(v) for k, v in env.items()})
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = 1
    try:
        if request["kind"] == "worker":
            from service.settings import get_settings
            from service.worker._main import main

            get_settings.cache_clear()
            argv = request.get("argv") or []
            assert isinstance(argv, list)
            code = main([str(a) for a in argv])
        else:
            import uvicorn

            from service.settings import get_settings

            get_settings.cache_clear()
            uvicorn.run("service.app:create_app", factory=True, host="127.0.0.1",
                        port=int(str(request["port"])), log_level="warning")
            code = 0
    except SystemExit as e:
        code = int(e.code) if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
