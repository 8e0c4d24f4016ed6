"""The command line (``python -m studies.cli``) and the ``optuna`` CLI reading our studies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _study_helpers import tiny_spec

from studies import run_study
from studies.cli import main

ROOT = Path(__file__).resolve().parents[2]
OPTUNA = Path(sys.executable).parent / "optuna"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )


def test_optuna_cli_reads_our_study(storage_url: str, request: pytest.FixtureRequest) -> None:
    name = f"cli-{request.node.name}".replace("[", "-").replace("]", "")
    run_study(tiny_spec("lambda", name, n_trials=2), storage_url, progress=False)
    studies = _run(str(OPTUNA), "studies", "--storage", storage_url, "-f", "json", cwd=ROOT)
    assert studies.returncode == 0, studies.stderr
    ours = [s for s in json.loads(studies.stdout) if s["name"] == name]
    assert ours and ours[0]["n_trials"] == 2
    assert ours[0]["user_attrs"]["kind"] == "lambda"
    assert ours[0]["user_attrs"]["spec"]["name"] == name
    trials = _run(
        str(OPTUNA),
        "trials",
        "--study-name",
        name,
        "--storage",
        storage_url,
        "-f",
        "json",
        cwd=ROOT,
    )
    assert trials.returncode == 0, trials.stderr
    rows = json.loads(trials.stdout)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    attrs = rows[0]["user_attrs"]
    assert len(attrs["history"]) == 2 and "widths" in attrs["history"][0]
    assert {"final_widths", "params", "cost_macs", "wall_time_s", "lam"} <= set(attrs)


def test_study_run_and_compare_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run_study(tiny_spec("width", "cli-width", n_trials=2), url, progress=False)
    spec = tiny_spec("lambda", "cli-lambda", n_trials=2)
    (tmp_path / "lambda.json").write_text(spec.to_json())
    done = _run(
        sys.executable,
        "-m",
        "studies.cli",
        "study",
        "run",
        str(tmp_path / "lambda.json"),
        "--storage",
        url,
        "--quiet",
        "--models",
        str(tmp_path / "nets"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["complete_trials"] == 2 and summary["kind"] == "lambda"
    assert len(list((tmp_path / "nets").iterdir())) == 2 * 3  # two trials, three formats
    assert summary["best"]["lam"] is not None
    out = tmp_path / "report"
    done = _run(
        sys.executable,
        "-m",
        "studies.cli",
        "study",
        "compare",
        "cli-lambda",
        "cli-width",
        "--storage",
        url,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv",
        "comparison.html",
        "comparison.json",
    ]
    data = json.loads((out / "comparison.json").read_text())
    assert [a["label"] for a in data["arms"]] == ["λ search", "width search"]
    assert [a["n_complete"] for a in data["arms"]] == [2, 2]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(printed["arms"]) == {"lambda", "width"} and "useful region" in printed["reference"]


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    spec = {"name": "x", "dataset": {"name": "digits"}, "architecture": {"max_width": 99999}}
    bad.write_text(json.dumps(spec))
    url = f"sqlite:///{tmp_path / 'e.db'}"
    assert main(["study", "run", str(bad), "--storage", url]) == 2
    assert "architecture.max_width: value 99999 is outside [1, 4096]" in capsys.readouterr().err
    assert main(["study", "compare", "nope", "nada", "--storage", url]) == 2
    assert "study 'nope' is not in storage" in capsys.readouterr().err
