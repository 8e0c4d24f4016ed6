"""Claims from many real worker processes keep the budget exact, on SQLite and PostgreSQL.

Eight ``service.worker.Worker`` processes (the real loop, claim, finish and heartbeat code;
their trials sample their parameters and sleep instead of training, as in
``bench/claim_load.py``, whose claimer they are) serve one width search that already holds
200 finished trials. Afterwards the new trials that count against the budget are exactly
the budget, no trial number appears twice, nothing is left RUNNING or WAITING, no process
logged an error and none imported torch. The bench carries the large K and the timings.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from _pg import PG_ADMIN_URL, pg_reachable

REPO = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    path = REPO / "bench" / "claim_load.py"
    spec = importlib.util.spec_from_file_location("claim_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["claim_load"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_eight_worker_processes_claim_exactly_the_budget(backend: str) -> None:
    if backend == "postgresql" and not pg_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; start it first")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    bench = _bench()
    args = bench._parse(["--trial-ms", "20", "--per-claimer", "4", "--min-budget", "32",
                         "--pg-url", PG_ADMIN_URL])
    line = bench.run_one("service", backend, 200, 8, args)

    assert line["budget"] == 32
    assert line["states"] == {"COMPLETE": 32}, line
    assert line["budget_exact"], line
    assert line["duplicates"] == 0
    assert line["left_running"] == 0
    assert line["errors"] == 0, line.get("first_error")
    assert line["locked_errors"] == 0
    assert not line["torch_imported"], "a process that only claims trials loaded torch"
    assert line["claim_p50_ms"] is not None and line["lock_hold_p50_ms"] is not None
