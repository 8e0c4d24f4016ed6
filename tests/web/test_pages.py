"""Server-side checks of the dashboard pages: routes, elements, assets, root_path, escaping.

The pages are shells filled by JavaScript from ``/api/v1``; what a browser does with them
is checked in ``test_browser.py``. Here the app is the real ``create_app`` on a temporary
SQLite file, driven through Starlette's TestClient.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.web import plotly_js_path
from studies.arms import ARM_COLOURS, ARM_LABELS, ARMS, DEFAULT_ARMS


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, storage_url=f"sqlite:///{tmp_path / 'web.db'}", **overrides
    )


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(_settings(tmp_path)))


class _Elements(HTMLParser):
    """Collects every start tag's attributes (ids, names, script sources, links)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> set[str]:
        return {str(a["id"]) for _, a in self.tags if a.get("id")}

    def attr(self, tag: str, name: str) -> list[str]:
        return [str(a[name]) for t, a in self.tags if t == tag and a.get(name) is not None]


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


PAGES = {
    "/": {"studies-table", "filter-status", "filter-kind", "filter-name", "comparisons-table"},
    "/new": {"spec-form", "f-target", "f-architecture.max_width", "f-training.epochs",
             "f-search.n_trials", "f-search.max_macs", "f-search.max_seconds", "f-dataset.name",
             "form-error", *(f"f-arm-{arm}" for arm in ARMS)},
    "/studies/abc123": {"plot-size-space", "plot-widths", "plot-loss", "plot-lambda", "plot-pareto",
                        "trials-table", "cancel-button", "csv-link"},
    "/comparisons/cmp42": {"plot-pareto", "plot-size-space", "plot-compute", "summary",
                           "arms-table", "reference", "params-table", "sensitivity-table",
                           "export-json", "export-csv"},
}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_with_its_elements(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = _parse(response.text)
    missing = PAGES[path] - page.ids()
    assert not missing, f"{path} lacks elements {sorted(missing)}"
    # every page: theme toggle, shared script, stylesheet, and a base href for the prefix
    assert "theme-toggle" in page.ids()
    assert page.attr("base", "href") == ["/"]
    assert "static/dashboard.js" in page.attr("script", "src")
    assert "static/dashboard.css" in page.attr("link", "href")


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_load_nothing_from_another_host(client: TestClient, path: str) -> None:
    page = _parse(client.get(path).text)
    urls = page.attr("script", "src") + page.attr("link", "href")
    assert urls
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{path} loads {url} from another host"


def test_plot_pages_use_the_local_plotly_bundle(client: TestClient) -> None:
    import plotly

    for path in ("/studies/abc", "/comparisons/abc"):
        sources = _parse(client.get(path).text).attr("script", "src")
        assert f"vendor/plotly.min.js?v={plotly.__version__}" in sources


def test_plotly_js_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == plotly_js_path().read_bytes()
    assert b"plotly.js" in response.content[:2000]


@pytest.mark.parametrize(
    ("name", "media"),
    [("dashboard.css", "text/css"), ("dashboard.js", "text/javascript"),
     ("theme.js", "text/javascript"), ("study.js", "text/javascript"),
     ("comparison.js", "text/javascript"), ("new.js", "text/javascript"),
     ("studies.js", "text/javascript")],
)
def test_static_assets_are_served(client: TestClient, name: str, media: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert len(response.content) > 100


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2Fweb%2Frouter.py",
                                  "/static/..%2F__init__.py"])
def test_static_route_serves_only_its_own_files(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_pages_stay_out_of_the_openapi_schema(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    pages = {"/", "/new", "/studies/{study_id}", "/comparisons/{comparison_id}",
             "/static/{name}", "/vendor/plotly.min.js"}
    assert not pages & paths


def test_form_shows_this_servers_limits(tmp_path: Path) -> None:
    client = TestClient(create_app(_settings(tmp_path, max_width=96, max_epochs=7)))
    page = _parse(client.get("/new").text)
    inputs = {a["name"]: a for t, a in page.tags if t == "input" and a.get("name")}
    assert inputs["architecture.max_width"]["max"] == "96"
    assert inputs["architecture.max_width"]["value"] == "96"  # default 256 clamped to it
    assert inputs["architecture.max_width"]["min"] == "1"
    assert inputs["training.epochs"]["max"] == "7"
    html = client.get("/new").text
    assert "1 – 96" in html and "1 – 7" in html
    # the dataset select offers the bundled datasets
    assert re.search(r'<option value="digits"', html)


def test_every_page_hands_the_arms_labels_and_colours_to_its_scripts(
    client: TestClient,
) -> None:
    """One source for the arms in the browser: the JSON every page embeds (studies.arms)."""
    import json

    for path in PAGES:
        html = client.get(path).text
        found = re.search(r'<script id="sn-arms" type="application/json">(.*?)</script>', html)
        assert found, path
        meta = json.loads(found.group(1))
        assert meta == {"order": list(ARMS), "defaults": list(DEFAULT_ARMS),
                        "labels": ARM_LABELS, "colours": ARM_COLOURS}
    folder = Path(__file__).resolve().parents[2] / "service" / "web" / "static"
    for script in folder.glob("*.js"):  # no script carries its own copy of them
        text = script.read_text(encoding="utf-8")
        for colour in ARM_COLOURS.values():
            assert colour not in text.lower(), f"{script.name} hard-codes {colour}"
        assert "λ search" not in text, f"{script.name} hard-codes an arm label"


def test_comparison_form_offers_every_arm_with_the_default_checked(client: TestClient) -> None:
    page = _parse(client.get("/new").text)
    boxes = {a["value"]: a for t, a in page.tags if t == "input" and a.get("name") == "arms"}
    assert list(boxes) == list(ARMS)
    assert {arm for arm, a in boxes.items() if "checked" in a} == set(DEFAULT_ARMS)
    n_trials = next(a for t, a in page.tags if t == "input" and a.get("name") == "search.n_trials")
    assert n_trials["data-empty"] == "null"  # empty: only the compute budget stops the search


def test_comparison_page_links_both_downloads(client: TestClient) -> None:
    page = _parse(client.get("/comparisons/cmp42").text)
    assert {"api/v1/comparisons/cmp42/export.json",
            "api/v1/comparisons/cmp42/export.csv"} <= set(page.attr("a", "href"))


def test_form_inputs_are_named_by_spec_field(client: TestClient) -> None:
    page = _parse(client.get("/new").text)
    names = set(page.attr("input", "name")) | set(page.attr("select", "name"))
    expected = {"name", "dataset.name", "architecture.depth", "architecture.max_width",
                "training.epochs", "training.lr", "search.n_trials", "search.lam_min"}
    assert expected <= names


@pytest.mark.parametrize("via", ["client", "settings"])
def test_pages_work_under_a_root_path(tmp_path: Path, via: str) -> None:
    if via == "client":  # a proxy + uvicorn --root-path: the scope carries it
        client = TestClient(create_app(_settings(tmp_path)), root_path="/prefix")
    else:  # SHRINKNETS_ROOT_PATH
        client = TestClient(create_app(_settings(tmp_path, root_path="/prefix")))
    for path in PAGES:
        response = client.get("/prefix" + path if path != "/" else "/prefix/")
        assert response.status_code == 200, path
        page = _parse(response.text)
        assert page.attr("base", "href") == ["/prefix/"], path
        # every link and asset is relative, so it resolves under the prefix
        for url in page.attr("a", "href") + page.attr("script", "src") + page.attr("link", "href"):
            assert not url.startswith("/"), f"{path}: absolute URL {url} ignores the prefix"
    css = client.get("/prefix/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/prefix/vendor/plotly.min.js").status_code == 200
    assert client.get("/prefix/api/v1/studies").status_code == 200


def test_user_strings_are_escaped(client: TestClient) -> None:
    evil = '<script>alert("x")<'
    response = client.get("/studies/" + evil.replace("<", "%3C").replace('"', "%22"))
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;" in response.text
    response = client.get('/comparisons/"><img src=x onerror=alert(1)>')
    assert "<img src=x" not in response.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_token_field_only_when_a_token_is_set(tmp_path: Path) -> None:
    plain = TestClient(create_app(_settings(tmp_path)))
    assert "token-input" not in _parse(plain.get("/").text).ids()
    guarded = TestClient(create_app(_settings(tmp_path, api_token="s3cret")))
    page = _parse(guarded.get("/").text)
    assert "token-input" in page.ids()
    assert "s3cret" not in guarded.get("/").text  # the page never carries the token itself


def test_page_scripts_build_urls_relative_to_the_base() -> None:
    """No script hard-codes an absolute path, which would break under a prefix."""
    folder = Path(__file__).resolve().parents[2] / "service" / "web" / "static"
    for script in folder.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"""["'`]/api/""", text), f"{script.name} uses an absolute /api URL"
        html_sink = r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write"
        assert not re.search(html_sink, text), f"{script.name} writes HTML from strings"


def test_the_forms_default_objectives_are_the_apis(tmp_path: Path) -> None:
    from service.settings import Settings
    from service.web._form import form_groups, form_limits
    from studies.spec import load_spec

    fields = {f.name: f for g in form_groups(
        limits=form_limits(Settings(data_dir=tmp_path)), datasets=[("digits", "digits")]
    ) for f in g.fields}
    api_default = load_spec({"name": "x", "dataset": {"name": "digits"}}).search.objectives
    assert fields["search.objectives"].default == ",".join(api_default) == "val_loss"
