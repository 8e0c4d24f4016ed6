"""Shared pieces of the browser tests: the tiny comparison, the running stack, waits.

The fixtures that start the stack and the browser live in ``conftest.py``; the tests
in ``test_browser.py``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _stack import tail

__all__ = [
    "ARTIFACTS", "CHROMIUM_ARGS", "N_TRIALS", "SPEC", "TOKEN", "Stack", "chromium_or_skip",
    "expected_size_space_traces", "playwright_or_skip", "trace_count", "wait_finished",
    "wait_plot",
]

CHROMIUM = os.environ.get("SHRINKNETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TOKEN = "browser-test-token"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N_TRIALS = 3
SPEC: dict[str, Any] = {
    "name": "browser comparison",
    "dataset": {"name": "digits"},
    "architecture": {"depth": 2, "max_width": 8},
    "training": {"epochs": 2, "batch_size": 64},
    "search": {"n_trials": N_TRIALS, "sampler": "random", "seed": 1,
               "objectives": ["val_loss", "params"], "lam_min": 1e-3, "lam_max": 1.0},
}


def chromium_or_skip() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip(
        f"no Chromium at {CHROMIUM} or on PATH; `make test-browser` installs it "
        "(apt-get install -y chromium), or set SHRINKNETS_CHROMIUM to a Chromium binary"
    )


def playwright_or_skip() -> Any:
    return pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is missing: pip install playwright"
    )


@dataclass
class Stack:
    base: str  # http://127.0.0.1:PORT/ (token-protected server)
    prefixed: str  # http://127.0.0.1:PORT/prefix/ (through the proxy)
    comparison_id: str
    lambda_id: str
    width_id: str
    logs: list[Path]

    def api(self, path: str) -> Any:
        response = httpx.get(self.base + "api/v1/" + path, timeout=30)
        response.raise_for_status()
        return response.json()


def wait_finished(stack: Stack, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comparison = stack.api(f"comparisons/{stack.comparison_id}")
        if comparison["status"] in ("finished", "cancelled"):
            return dict(comparison)
        time.sleep(1)
    logs = "\n".join(tail(log, 2000) for log in stack.logs)
    raise AssertionError(f"comparison did not finish in {timeout}s:\n{logs}")


def trace_count(page: Any, selector: str) -> int:
    return int(page.evaluate("selector => document.querySelector(selector).data.length", selector))


def wait_plot(page: Any, selector: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        """selector => {
            const div = document.querySelector(selector);
            return Boolean(div && div.data && div.dataset.drawn !== undefined
                           && div.querySelector(".main-svg"));
        }""",
        arg=selector,
        timeout=timeout,
    )


def expected_size_space_traces(stack: Stack) -> int:
    """Traces ``studies.plots.size_space_figure`` draws for the finished comparison."""
    lam = stack.api(f"studies/{stack.lambda_id}/trials.json")["trials"]
    width = stack.api(f"studies/{stack.width_id}/trials.json")["trials"]
    done = ("COMPLETE", "PRUNED", "FAIL")
    paths = [t for t in lam if t["state"] in done and len(t["attrs"].get("final_widths", [])) >= 2]
    ends = [t for t in paths if t["state"] == "COMPLETE"]
    width_points = [t for t in width if t["state"] == "COMPLETE"]
    # every λ trajectory shares one trace, the end points another, the width trials a third
    return (1 if paths else 0) + (1 if ends else 0) + (1 if width_points else 0)
