"""Screenshots of every dashboard page, light and dark, wide and narrow, to look at.

Usage (against a running server, e.g. the one ``make run`` starts)::

    python tests/web/screenshots.py http://127.0.0.1:8000 --out test-artifacts/screens

It finds a comparison and its studies through the API, opens the study list, the new
study form, the comparison and each of its studies at 1400 and 800 px wide in the light
and the dark theme (``prefers-color-scheme``), waits for the plots, and writes one PNG per
page, width and theme (``<page>-<width>-<theme>.png``). Needs Playwright and Chromium
(``make browser``). It checks nothing by itself: the pictures are for a person to read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _browser import CHROMIUM_ARGS, chromium_or_skip

WIDTHS = (1400, 800)
THEMES = ("light", "dark")


def pages(base: str) -> dict[str, str]:
    """Page name → path: the lists, the form, the newest comparison and its studies."""
    found = {"studies": "studies", "new": "new"}
    listing = httpx.get(f"{base}/api/v1/comparisons", timeout=30).json()
    if listing.get("items"):
        cid = listing["items"][0]["id"]
        found["comparison"] = f"comparisons/{cid}"
        detail = httpx.get(f"{base}/api/v1/comparisons/{cid}", timeout=30).json()
        for arm in detail["arms"]:
            found[f"study-{arm['arm']}"] = f"studies/{arm['study']['id']}"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("test-artifacts/screens"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    base = args.base.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_or_skip(), args=CHROMIUM_ARGS)
        for theme in THEMES:
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900},
                                              color_scheme=theme)
                page = context.new_page()
                for name, path in pages(base).items():
                    page.goto(f"{base}/{path}")
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(1500)  # plots draw after their data arrives
                    file = args.out / f"{name}-{width}-{theme}.png"
                    page.screenshot(path=str(file), full_page=True)
                    print(file)
                context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
