# Every target creates and uses the local virtual environment .venv: the runtime pinned by
# requirements.lock, the test and lint tools by requirements-dev.lock (which includes it).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test test-slow test-browser browser lint bench clean

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

## Headless Chromium for the dashboard tests (Debian's package); the tests skip
## with a clear reason when it cannot be installed.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will skip"; \
	  else echo "no apt-get: browser tests will skip"; fi; \
	fi

## The main job: API + local worker + a λ-vs-width comparison on a bundled dataset.
run: $(STAMP)
	$(VENV)/bin/shrinknets demo

## The default test run (PostgreSQL at 127.0.0.1:5432; Chromium installed when missing).
test: $(STAMP) browser
	$(PY) -m pytest -q

test-slow: $(STAMP) browser
	$(PY) -m pytest -q -m slow

test-browser: $(STAMP) browser
	$(PY) -m pytest -q -m browser

lint: $(STAMP)
	$(VENV)/bin/ruff check shrinknets_core studies service tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/removal_speed.py
	$(PY) bench/search_efficiency.py
	$(PY) bench/bn_scale.py
	$(PY) bench/service_load.py
	$(PY) bench/claim_load.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
