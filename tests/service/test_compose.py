"""docker-compose.yml and the Dockerfile, checked without Docker (it cannot run here):
the file parses, names only services that exist, waits for a healthy database, reserves
GPUs for workers, and every command it runs is a valid ``shrinknets`` invocation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import build_parser
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHRINKNETS = str(Path(sys.executable).with_name("shrinknets"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def _expand(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", sub, value)


def test_services_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "api", "worker", "worker-cpu"}
    for name, service in services.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond == {"condition": "service_healthy"}
            assert "healthcheck" in services[dep]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: undeclared volume"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert services["worker-cpu"]["profiles"] == ["cpu"]
    assert all(s.get("build") or s.get("image", "").startswith("postgres")
               for s in services.values())


def test_api_requires_a_token_and_commands_are_valid(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = {"SHRINKNETS_API_TOKEN": "t"}
    with pytest.raises(KeyError, match="SHRINKNETS_API_TOKEN"):
        _expand(services["api"]["environment"]["SHRINKNETS_API_TOKEN"], {})
    parser = build_parser()
    commands = {}
    for name in ("api", "worker", "worker-cpu"):
        argv = [_expand(str(a), env) for a in services[name]["command"]]
        parser.parse_args(argv)  # exits (SystemExit) on an invalid command line
        commands[argv[0]] = argv
    api = parser.parse_args(commands["serve"])
    assert (api.host, api.workers) == ("0.0.0.0", 0)
    settings = {k: _expand(str(v), env) for k, v in services["api"]["environment"].items()}
    saved = dict(os.environ)
    try:
        os.environ.update(settings)
        configured = Settings(host=api.host)
        configured.check_safe_to_serve()  # what `serve` checks at start-up
        assert configured.storage_url.startswith("postgresql+psycopg://shrinknets:")
        assert "@postgres:5432/" in configured.storage_url
    finally:
        os.environ.clear()
        os.environ.update(saved)
    runs = {c: subprocess.Popen([SHRINKNETS, c, "--help"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for c in commands}
    for command, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0 and f"shrinknets {command}" in out, err


def test_dockerfile_builds_the_shrinknets_command() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["shrinknets"]' in dockerfile
    for package in ("shrinknets_core", "studies", "service"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "requirements.lock" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "!requirements.lock" in ignored


def test_runtime_lock_holds_no_test_tools() -> None:
    """The image installs requirements.lock only; the test and lint tools live in
    requirements-dev.lock, which includes the runtime lock."""
    runtime = (REPO / "requirements.lock").read_text().splitlines()
    dev = (REPO / "requirements-dev.lock").read_text().splitlines()
    names = {line.split("==")[0].split("[")[0].lower() for line in runtime if line}
    for tool in ("pytest", "mypy", "ruff", "schemathesis", "playwright", "hypothesis"):
        assert tool not in names, tool
        assert any(line.lower().startswith(f"{tool}==") for line in dev), tool
    assert dev[0] == "-r requirements.lock"
    assert {"torch", "optuna", "fastapi", "sqlalchemy", "plotly", "uvicorn"} <= names
    assert "torch==2.13.0" in runtime
