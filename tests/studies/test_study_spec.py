"""Study spec validation: defaults, JSON round trip, and errors naming field and range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shrinknets_core.errors import ConfigError
from studies.spec import StudySpec, load_spec

BASE = {"name": "digits λ 1", "dataset": {"name": "digits"}}


def _with(section: str, **values: object) -> dict[str, object]:
    spec: dict[str, object] = {"name": "ok", "dataset": {"name": "digits"}}
    spec[section] = values
    return spec


def test_defaults_and_json_round_trip(tmp_path: Path) -> None:
    spec = load_spec({"name": "ok-1.2 x", "dataset": {"name": "digits"}})
    assert spec.architecture.max_width == 256
    assert spec.search.objectives == ["val_loss"]
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    again = load_spec(path)
    assert again == spec
    assert load_spec(spec.to_json()) == spec
    assert json.loads(spec.to_json())["search"]["kind"] == "lambda"


def test_limits_are_class_constants_and_in_the_schema() -> None:
    assert (StudySpec.MAX_WIDTH, StudySpec.MAX_DEPTH) == (4096, 8)
    assert (StudySpec.MAX_EPOCHS, StudySpec.MAX_TRIALS) == (500, 100_000)
    schema = StudySpec.model_json_schema()["$defs"]["ArchitectureSpec"]["properties"]
    assert schema["max_width"]["maximum"] == StudySpec.MAX_WIDTH
    assert schema["depth"]["minimum"] == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _with("architecture", max_width=5000),
            r"architecture\.max_width: value 5000 is outside \[1, 4096\]",
        ),
        (_with("architecture", depth=0), r"architecture\.depth: value 0 is outside \[1, 8\]"),
        (_with("training", epochs=501), r"training\.epochs: value 501 is outside \[1, 500\]"),
        (_with("training", lr=0.0), r"training\.lr: value 0\.0 is outside \[1e-07, 10\.0\]"),
        (_with("search", n_trials=100_001),
         r"search\.n_trials: value 100001 is outside \[1, 100000\]"),
        (
            _with("training", lam2=float("nan")),
            r"training\.lam2: value nan is outside \[0\.0, 1\.0\]",
        ),
        (
            _with("training", optimizer="rmsprop"),
            r"training\.optimizer: value 'rmsprop' is invalid",
        ),
        (_with("training", epoch=3), r"training\.epoch: unknown field"),
        (
            _with("search", lam_min=0.1, lam_max=0.01),
            r"lam_min \(0\.1\) must be smaller than lam_max",
        ),
        (_with("search", kind="target_size"), r"target_params is required"),
        (
            _with("search", pruner="median", objectives=["val_loss", "params"]),
            r"pruner must be 'none' or 'mo_asha' for multi-objective",
        ),
        (_with("search", objectives=["params"]), r"objectives must be"),
        ({"name": "a/b", "dataset": {"name": "digits"}}, r"field name: 'a/b' may only contain"),
        ({"name": "x" * 101, "dataset": {"name": "digits"}}, r"field name: "),
        ({"name": "no data"}, r"field dataset: required but missing"),
    ],
)
def test_bad_values_name_field_and_range(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_spec(spec)


def test_pydantic_error_itself_names_field_and_range() -> None:
    with pytest.raises(ValidationError) as info:
        StudySpec.model_validate(_with("architecture", max_width=0))
    text = str(info.value)
    assert "architecture.max_width" in text
    assert "outside the allowed range [1, 4096]" in text


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_spec(bad)
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_spec("[1, 2]")


@pytest.mark.parametrize(("legacy", "scale"), [("prox", "none"), ("layer_normalised", "grad")])
def test_a_stored_spec_with_the_legacy_beta_step_loads_in_the_trainers_words(
    tmp_path: Path, legacy: str, scale: str
) -> None:
    """Specs stored before ``training.lam_scale`` replaced ``training.beta_step`` load with
    the same β step, the same default λ range, and dump in the new words."""
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"name": "old", "dataset": {"name": "digits"},
                                "training": {"beta_step": legacy}}))
    spec = load_spec(path)
    assert (spec.training.beta_optimizer, spec.training.lam_scale) == ("prox", scale)
    new = load_spec({"name": "old", "dataset": {"name": "digits"},
                     "training": {"lam_scale": scale}})
    assert spec == new and spec.lam_range == new.lam_range
    assert "beta_step" not in spec.model_dump()["training"]
