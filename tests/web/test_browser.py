"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One module-scoped stack (``conftest.py``): uvicorn (with an API token) and a worker
process on a temporary SQLite file, plus a second uvicorn behind a path-prefix proxy. A
tiny comparison of three arms (λ search, width search, width search + Hyperband; digits,
two hidden layers of at most 8, 2 epochs, 3 trials per arm) runs to completion while the
browser watches. Screenshots go to ``test-artifacts/``
(git-ignored). Run with ``make test-browser`` (it installs ``chromium`` with apt when
missing); without a browser these tests skip and say why.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from _browser import (
    ARMS,
    ARTIFACTS,
    N_TRIALS,
    SPEC,
    TOKEN,
    Stack,
    expected_pareto_traces,
    expected_size_space_traces,
    rgb,
    trace_count,
    wait_finished,
    wait_plot,
    wait_traces,
)

from studies.arms import ARM_COLOURS, ARM_LABELS

pytestmark = pytest.mark.browser


def test_comparison_page_updates_live_and_draws_all_plots(stack: Stack, page: Any) -> None:
    # opened while the searches still queue or run: it must reach "finished" by itself
    page.goto(stack.base + f"comparisons/{stack.comparison_id}")
    page.wait_for_selector("#comparison-status .badge")
    first_status = page.inner_text("#comparison-status .badge")
    wait_finished(stack)
    page.wait_for_function(
        "document.querySelector('#comparison-status .badge').textContent === 'finished'",
        timeout=30_000,
    )
    for selector in ("#plot-pareto", "#plot-size-space", "#plot-compute"):
        wait_plot(page, selector)
    # trials + front for each arm (+ the pruned trials of an arm that has some), once the
    # redraw after the last state change has landed
    pareto, size_space = expected_pareto_traces(stack), expected_size_space_traces(stack)
    assert wait_traces(page, "#plot-pareto", pareto) == pareto
    assert wait_traces(page, "#plot-size-space", size_space) == size_space
    assert wait_traces(page, "#plot-compute", 2 * len(ARMS)) == 2 * len(ARMS)
    summary = page.inner_text("#summary")
    assert all(ARM_LABELS[arm] in summary for arm in ARMS)
    assert "Best validation loss" in summary
    assert page.inner_text("#comparison-name") == SPEC["name"]
    assert page.is_hidden("#cancel-button")
    page.screenshot(path=str(ARTIFACTS / "comparison.png"), full_page=True)
    assert not page.js_errors, page.js_errors
    # the page was opened before the searches finished and got there without a reload
    assert first_status in ("queued", "running")


def test_comparison_page_shows_every_arm_in_its_colour_and_the_downloads(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    wait_finished(stack)
    cid = stack.comparison_id
    page.goto(stack.base + f"comparisons/{cid}")
    page.wait_for_function(
        "document.querySelector('#reference').textContent.includes('useful region')"
    )
    rows = page.locator("#arms-table tbody tr[data-arm]")
    assert [rows.nth(i).get_attribute("data-arm") for i in range(rows.count())] == ARMS
    for i, arm in enumerate(ARMS):
        name = rows.nth(i).locator(".arm-name")
        assert name.inner_text().strip() == ARM_LABELS[arm]
        assert name.evaluate("e => getComputedStyle(e).color") == rgb(ARM_COLOURS[arm])
        swatch = rows.nth(i).locator(".arm-swatch")
        assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == rgb(
            ARM_COLOURS[arm])
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[6] in ("reached", "never"), cells  # the level: reached or never
        assert "×" in cells[5], cells  # compute share to the level
    assert "(baseline)" in rows.nth(ARMS.index("width")).inner_text()
    # the same colours on the figures
    wait_plot(page, "#plot-pareto")
    traces = page.evaluate("[...document.querySelector('#plot-pareto').data]"
                           ".map(t => [t.name, t.marker && t.marker.color])")
    for arm in ARMS:
        colours = {c for n, c in traces if n == f"{ARM_LABELS[arm]}: trials"}
        assert colours == {ARM_COLOURS[arm]}, traces
    assert page.locator("#sensitivity-table tbody tr").count() == 3  # factors 1.5, 2 and 3
    levels = page.locator("#params-table tbody tr")
    assert levels.count() >= 2 and levels.first.inner_text().startswith("≤ 100")
    assert "useful region: val loss <" in page.inner_text("#reference")
    # the downloads: JSON and CSV, named after the comparison
    for link, ext, media in (("#export-json", "json", "application/json"),
                             ("#export-csv", "csv", "text/csv")):
        href = page.get_attribute(link, "href")
        assert href == f"api/v1/comparisons/{cid}/export.{ext}"
        response = httpx.get(stack.base + href, timeout=30)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
        assert f'filename="comparison-{cid}.{ext}"' in response.headers["content-disposition"]
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename == f"comparison-{cid}.csv"
    saved = tmp_path / "comparison.csv"
    download.value.save_as(saved)
    with saved.open(encoding="utf-8") as f:
        assert {row["arm"] for row in csv.DictReader(f)} == set(ARMS)
    page.screenshot(path=str(ARTIFACTS / "comparison-arms.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_studies_list_shows_progress_and_links(stack: Stack, page: Any) -> None:
    wait_finished(stack)
    page.goto(stack.base)
    page.wait_for_selector("#studies-table tbody tr[data-study-id]")
    ours = f"#studies-table tbody tr[data-study-id='{stack.lambda_id}'], " \
        f"#studies-table tbody tr[data-study-id='{stack.width_id}']"
    page.wait_for_function(
        """selector => {
            const rows = [...document.querySelectorAll(selector)];
            return rows.length === 2 && rows.every(r => r.dataset.status === "finished"
                                                     && !r.textContent.includes("…"));
        }""",
        arg=ours,
        timeout=30_000,
    )
    text = "\n".join(page.locator(ours).all_inner_texts())
    assert "λ search" in text and "width search" in text and "digits" in text
    assert text.count(f"{N_TRIALS}/{N_TRIALS} complete") == 2
    assert text.count("params") == 2  # smallest network within 1% of the best loss
    assert page.locator(f"a[href='comparisons/{stack.comparison_id}']").count() >= 2
    # filters narrow the list and land in the URL (deep link)
    page.select_option("#filter-kind", "width")
    page.wait_for_function(
        "[...document.querySelectorAll('#studies-table tbody tr')]"
        ".every(r => r.textContent.includes('width search'))"
    )
    assert page.locator(ours).count() == 1
    assert "kind=width" in page.url
    page.screenshot(path=str(ARTIFACTS / "studies.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_study_page_plots_table_and_selected_trial(stack: Stack, page: Any) -> None:
    wait_finished(stack)
    page.goto(stack.base + f"studies/{stack.lambda_id}")
    page.wait_for_selector("#trials-table tbody tr[data-trial]")
    for selector in ("#plot-size-space", "#plot-lambda", "#plot-pareto", "#plot-widths"):
        wait_plot(page, selector)
    assert page.locator("#trials-table tbody tr").count() == N_TRIALS
    page.click("#trials-table tbody tr[data-trial='1']")
    page.wait_for_function(
        "document.querySelector('#widths-trial').textContent.includes('trial 1')"
    )
    assert trace_count(page, "#plot-widths") == SPEC["architecture"]["depth"]
    # the loss over epochs of the same trial: validation loss and accuracy (digits)
    wait_plot(page, "#plot-loss")
    assert page.inner_text("#loss-trial") == page.inner_text("#widths-trial")
    assert trace_count(page, "#plot-loss") == 2
    assert page.is_visible("#lambda-panel")
    # sorting by λ orders the rows by λ
    page.click("#trials-table th[data-key='lam']")
    lams = page.eval_on_selector_all(
        "#trials-table tbody tr td:nth-child(3)", "cells => cells.map(c => c.textContent)"
    )
    assert [float(x) for x in lams] == sorted(float(x) for x in lams)
    assert page.get_attribute("#csv-link", "href") == f"api/v1/studies/{stack.lambda_id}/trials.csv"
    csv = httpx.get(stack.base + f"api/v1/studies/{stack.lambda_id}/trials.csv")
    assert csv.status_code == 200 and csv.text.count("\n") == N_TRIALS + 1
    # every complete trial row and every network of the front link to their downloads
    links = page.eval_on_selector_all(
        "#trials-table tbody tr .model-links a", "as => as.map(a => a.getAttribute('href'))"
    )
    assert len(links) == 3 * N_TRIALS
    front = page.eval_on_selector_all(
        "#front-models li .model-links a", "as => as.map(a => a.getAttribute('href'))"
    )
    assert front and set(front) <= set(links)
    torchscript = next(link for link in links if link.endswith("format=torchscript"))
    downloaded = httpx.get(torchscript)  # absolute, under the page's base
    assert downloaded.status_code == 200 and downloaded.content[:2] == b"PK"  # a zip archive
    page.screenshot(path=str(ARTIFACTS / "study.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_a_width_study_page_has_no_empty_lambda_card(stack: Stack, page: Any) -> None:
    wait_finished(stack)
    page.goto(stack.base + f"studies/{stack.width_id}")
    page.wait_for_selector("#trials-table tbody tr[data-trial]")
    wait_plot(page, "#plot-pareto")
    assert page.is_hidden("#lambda-panel")
    wait_plot(page, "#plot-loss")
    assert not page.js_errors, page.js_errors


def test_form_shows_the_servers_field_error_and_sends_the_token(stack: Stack, page: Any) -> None:
    page.goto(stack.base + "new")
    page.fill("[name='name']", "too wide")
    page.fill("[name='architecture.max_width']", "999999")
    page.click("#submit")
    # without the token the server answers 401, shown at the top of the form
    page.wait_for_selector("#form-error:not([hidden])")
    assert "401" in page.inner_text("#form-error")
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")
    page.click("#submit")
    error = page.locator(".field[data-field='architecture.max_width'] .error")
    error.wait_for()
    page.wait_for_function(
        "document.querySelector(\".field[data-field='architecture.max_width'] .error\")"
        ".textContent.length > 0"
    )
    message = error.inner_text()
    assert "max_width" in message and "999999" in message
    assert page.locator(".field.invalid").count() == 1
    assert page.evaluate("sessionStorage.getItem('shrinknets-token')") == TOKEN
    page.screenshot(path=str(ARTIFACTS / "form-error.png"), full_page=True)
    # fixed, the same form creates the study (token sent) and opens its page
    page.fill("[name='architecture.max_width']", "4")
    page.select_option("[name='target']", "study")
    page.fill("[name='training.epochs']", "1")
    page.fill("[name='search.n_trials']", "1")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/studies/[0-9a-f]+$"))
    page.wait_for_function("document.querySelector('#study-name').textContent === 'too wide'")
    study_id = page.url.rsplit("/", 1)[1]
    created = stack.api(f"studies/{study_id}")
    assert created["spec"]["architecture"]["max_width"] == 4
    assert created["spec"]["training"]["epochs"] == 1


def test_form_sends_the_checked_arms_and_a_compute_budget(stack: Stack, page: Any) -> None:
    page.goto(stack.base + "new")
    assert page.is_checked("#f-arm-lambda") and page.is_checked("#f-arm-width")
    assert not page.is_checked("#f-arm-width_hyperband")
    assert not page.is_checked("#f-arm-lambda_path")
    assert page.is_hidden(".field[data-field='search.kind']")  # the arms are the searches
    page.uncheck("#f-arm-lambda")
    page.check("#f-arm-width_hyperband")
    page.fill("[name='search.n_trials']", "")
    page.fill("[name='search.max_macs']", "5e7")

    def posted() -> tuple[str, dict[str, Any]]:
        first, body = (page.text_content("#spec-preview") or "").split("\n", 1)
        return first, json.loads(body)

    page.select_option("[name='training.lam_scale']", "none")
    page.select_option("[name='training.penalty_weight']", "params")
    page.fill("[name='search.path.warmup_epochs']", "4")
    page.fill("[name='search.path.epochs_per_step']", "0.5")
    route, spec = posted()
    assert route == "POST api/v1/comparisons"
    assert spec["arms"] == ["width", "width_hyperband"] and "kind" not in spec["search"]
    assert spec["search"]["n_trials"] is None and spec["search"]["max_macs"] == 5e7
    assert spec["training"]["lam_scale"] == "none"
    assert spec["training"]["penalty_weight"] == "params"
    assert spec["search"]["path"] == {"warmup_epochs": 4, "epochs_per_step": 0.5,
                                      "finetune_epochs": 5, "importance": "l2"}
    # one arm: the server's error lands next to the arms
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")
    page.fill("[name='name']", "one arm")
    page.uncheck("#f-arm-width")
    page.click("#submit")
    page.wait_for_function(
        "document.querySelector(\".field[data-field='arms'] .error\").textContent.length > 0"
    )
    assert "at least 2" in page.inner_text(".field[data-field='arms'] .error")
    # one study: no arms, and the search kind is back
    page.select_option("[name='target']", "study")
    assert page.is_hidden(".field[data-field='arms']")
    assert page.is_visible(".field[data-field='search.kind']")
    route, spec = posted()
    assert route == "POST api/v1/studies" and "arms" not in spec


def test_dataset_upload_shows_file_errors_and_selects_the_upload(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\nx,3\n")
    good = tmp_path / "tiny.csv"
    good.write_text("a,b,c,label\n" + "".join(
        f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{i % 3 / 3:.3f},{i % 2}\n" for i in range(60)
    ))
    page.goto(stack.base + "new")
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")
    page.set_input_files("#u-file", str(bad))
    page.click("#upload-submit")
    error = page.locator("#upload-form .field[data-field='file'] .error")
    page.wait_for_function(
        "document.querySelector(\"#upload-form .field[data-field='file'] .error\")"
        ".textContent.length > 0"
    )
    assert "bad.csv" in error.inner_text()
    page.set_input_files("#u-file", str(good))
    page.fill("#u-name", "tiny_upload")
    page.click("#upload-submit")
    page.wait_for_selector("#upload-done:not([hidden])")
    assert page.input_value("[name='dataset.name']") == "tiny_upload"
    spec = page.text_content("#spec-preview") or ""
    assert '"path": "tiny_upload"' in spec  # the API's dataset spec for the upload


def test_user_strings_render_as_text(stack: Stack, page: Any) -> None:
    evil = "<img src=x onerror=window.__pwned=1>"
    page.goto(stack.base + "studies/" + evil.replace("<", "%3C").replace(">", "%3E"))
    page.wait_for_selector("#study-error:not([hidden])")
    assert evil in page.inner_text("#study-error")
    assert evil in page.inner_text("#study-id")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0


def test_dashboard_works_behind_a_path_prefix(stack: Stack, page: Any) -> None:
    wait_finished(stack)
    page.goto(stack.prefixed + f"comparisons/{stack.comparison_id}")
    for selector in ("#plot-pareto", "#plot-size-space"):
        wait_plot(page, selector)
    expected = expected_pareto_traces(stack)
    assert wait_traces(page, "#plot-pareto", expected) == expected
    page.click(f"#arms-table a[href='studies/{stack.lambda_id}']")
    page.wait_for_url(stack.prefixed + f"studies/{stack.lambda_id}")
    wait_plot(page, "#plot-size-space")
    page.click("a.brand")
    page.wait_for_url(stack.prefixed)
    page.wait_for_selector("#studies-table tbody tr[data-study-id]")
    assert not page.js_errors, page.js_errors


def test_dark_theme_follows_the_system_and_the_toggle(stack: Stack, browser: Any) -> None:
    wait_finished(stack)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, color_scheme="dark")
    page = context.new_page()
    page.goto(stack.base + f"comparisons/{stack.comparison_id}")
    wait_plot(page, "#plot-pareto")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = page.evaluate(background)
    assert dark == "rgb(18, 21, 27)"
    page.screenshot(path=str(ARTIFACTS / "comparison-dark.png"), full_page=True)
    wait_plot(page, "#plot-size-space")
    scale = "JSON.stringify(document.getElementById('plot-size-space').layout.coloraxis.colorscale)"
    # the loss scale without Viridis' darkest quarter: the best (darkest) trials stay visible
    assert page.evaluate(scale).startswith('[[0,"#3b528b"]'), page.evaluate(scale)
    page.click("#theme-toggle")
    assert page.evaluate(background) == "rgb(247, 248, 250)"
    assert page.evaluate(scale) == '"Viridis"'  # redrawn for the light panel
    page.reload()  # the choice is remembered
    assert page.evaluate(background) == "rgb(247, 248, 250)"
    context.close()


def test_cancel_button_sends_the_token_and_the_page_follows(stack: Stack, page: Any) -> None:
    spec = {**SPEC, "name": "to cancel", "training": {"epochs": 200, "batch_size": 64},
            "search": {**SPEC["search"], "kind": "lambda", "n_trials": 50}}
    created = httpx.post(stack.base + "api/v1/studies", json=spec, timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    page.goto(stack.base + f"studies/{study_id}")
    page.fill("#token-input", TOKEN)
    page.dispatch_event("#token-input", "change")
    page.wait_for_selector("#cancel-button:not([hidden])")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-button")
    page.wait_for_function(
        "document.querySelector('#study-status .badge').textContent === 'cancelled'",
        timeout=30_000,
    )
    assert page.is_hidden("#cancel-button") and page.is_hidden("#live-note")
    assert stack.api(f"studies/{study_id}")["status"] == "cancelled"
    # polling stopped: no more API calls once the study is over (poll period is 3 s)
    page.wait_for_timeout(1000)
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/" in r.url else None)
    page.wait_for_timeout(7000)
    assert calls == []


@pytest.mark.parametrize("base", ["base", "prefixed"])
def test_api_docs_render_offline(stack: Stack, page: Any, base: str) -> None:
    """Swagger UI and ReDoc draw the API from local assets, also behind a path prefix (the
    ``page`` fixture fails the test if anything is fetched from another host)."""
    root = getattr(stack, base)
    page.goto(root + "docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "ShrinkNets search service" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag", timeout=20_000)  # the routes, from openapi.json
    page.goto(root + "redoc")
    page.wait_for_selector("h1", timeout=20_000)
    assert "ShrinkNets search service" in page.inner_text("h1")
