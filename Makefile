# Every target creates and uses the local virtual environment .venv (pinned by requirements.lock).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run demo test test-slow test-browser lint bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

## The main job: API + local worker + a λ-vs-width comparison on a bundled dataset.
run: $(STAMP)
	$(VENV)/bin/shrinknets demo

## The default test run (fast; PostgreSQL tests run when the server is up).
test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check shrinknets_core studies service tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/removal_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
