"""Shared pieces of the browser tests: the tiny comparison, the running stack, waits.

The fixtures that start the stack and the browser live in ``conftest.py``; the tests
in ``test_browser.py``.
"""

from __future__ import annotations

import contextlib
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
    "ARMS", "ARTIFACTS", "CHROMIUM_ARGS", "N_TRIALS", "SPEC", "TOKEN", "Stack", "chromium_or_skip",
    "expected_pareto_traces", "expected_size_space_traces", "playwright_or_skip", "rgb",
    "trace_count", "wait_finished", "wait_plot", "wait_traces",
]

CHROMIUM = os.environ.get("SHRINKNETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TOKEN = "browser-test-token"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N_TRIALS = 3
ARMS = ["lambda", "width", "width_hyperband"]
"""The arms of the stack's comparison (posted as ``{**SPEC, "arms": ARMS}``)."""
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
    arms: dict[str, str]  # arm -> study id, in order
    logs: list[Path]

    @property
    def lambda_id(self) -> str:
        return self.arms["lambda"]

    @property
    def width_id(self) -> str:
        return self.arms["width"]

    def api(self, path: str) -> Any:
        response = httpx.get(self.base + "api/v1/" + path, timeout=30)
        response.raise_for_status()
        return response.json()


def wait_finished(stack: Stack, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comparison = stack.api(f"comparisons/{stack.comparison_id}")
        if comparison["status"] in ("finished", "failed", "cancelled"):
            return dict(comparison)
        time.sleep(1)
    logs = "\n".join(tail(log, 2000) for log in stack.logs)
    raise AssertionError(f"comparison did not finish in {timeout}s:\n{logs}")


def trace_count(page: Any, selector: str) -> int:
    return int(page.evaluate("selector => document.querySelector(selector).data.length", selector))


def wait_traces(page: Any, selector: str, expected: int, timeout: float = 20_000) -> int:
    """The plot's trace count once it is ``expected`` — the page redraws a plot on its next
    poll after a trial changes state, so a count read at once can be one poll behind — or
    the count at the timeout (the caller's assertion then shows it)."""
    with contextlib.suppress(Exception):  # playwright's TimeoutError
        page.wait_for_function(
            "([s, n]) => { const d = document.querySelector(s); return d && d.data "
            "&& d.data.length === n; }",
            arg=[selector, expected], timeout=timeout,
        )
    return trace_count(page, selector)


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


def _trials(stack: Stack, arm: str) -> list[dict[str, Any]]:
    return list(stack.api(f"studies/{stack.arms[arm]}/trials.json")["trials"])


def expected_size_space_traces(stack: Stack) -> int:
    """Traces ``studies.plots.size_space_figure`` draws for the finished comparison."""
    done = ("COMPLETE", "PRUNED", "FAIL")
    count = 0
    for arm in stack.arms:
        trials = [t for t in _trials(stack, arm) if len(t["attrs"].get("final_widths", [])) >= 2]
        if arm.startswith("lambda"):
            # every λ trajectory shares one trace, the end points another
            paths = [t for t in trials if t["state"] in done]
            ends = [t for t in paths if t["state"] == "COMPLETE"]
            count += (1 if paths else 0) + (1 if ends else 0)
        else:  # the complete width trials, one trace
            count += 1 if any(t["state"] == "COMPLETE" for t in trials) else 0
    return count


def expected_pareto_traces(stack: Stack) -> int:
    """Traces of ``studies.plots.pareto_figure``: trials and front per arm, and the pruned
    trials' last epoch of an arm that has some."""
    pruned = sum(any(t["state"] == "PRUNED" for t in _trials(stack, arm)) for arm in stack.arms)
    return 2 * len(stack.arms) + pruned


def rgb(colour: str) -> str:
    """``#1f77b4`` as the browser's computed style writes it: ``rgb(31, 119, 180)``."""
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))
