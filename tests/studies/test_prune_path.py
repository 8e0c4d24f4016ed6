"""The prune path: the λ path's schedule at λ = 0, pruning by importance to size targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from _study_helpers import crash_at, tiny_spec
from optuna.trial import TrialState

from studies import TrialStopped, create_study, run_lambda_path, run_study
from studies.budget import spent
from studies.spec import load_spec

_PATH = {"warmup_epochs": 1, "epochs_per_step": 1, "finetune_epochs": 1, "refine_epochs": 1}


def _spec(name: str, **path: Any) -> Any:
    return tiny_spec("prune_path", name, n_trials=4, path={**_PATH, **path})


def _steps(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return sorted((t for t in study.trials if "path_step" in t.user_attrs),
                  key=lambda t: t.user_attrs["path_step"])


@pytest.mark.parametrize("importance", ["taylor", "l2"])
def test_each_step_prunes_the_warm_up_network_to_its_target(importance: str) -> None:
    spec = _spec(f"prune-{importance}", importance=importance)
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    steps = _steps(study)
    assert [t.user_attrs["path_step"] for t in steps] == [0, 1, 2, 3]
    targets = [t.params["target_params"] for t in steps]
    assert targets == sorted(targets, reverse=True) and study.user_attrs["path_grid"] == targets
    for t in steps:  # pruned to the target, then trained and fine-tuned at that size
        assert t.state == TrialState.COMPLETE and t.user_attrs["lam"] == 0.0
        assert t.values[0] > 0 and t.user_attrs["params"] <= t.params["target_params"]
    assert steps[-1].user_attrs["final_widths"] == [1, 1]  # the last target: one neuron each
    # the same warm-up as the λ path: its first step starts from the same network
    lam = run_study(tiny_spec("lambda_path", "same-warm-up", n_trials=4, path=_PATH),
                    optuna.storages.InMemoryStorage(), progress=False)
    assert steps[0].user_attrs["initial_widths"] == _steps(lam)[0].user_attrs["initial_widths"]


def test_a_stopped_prune_path_resumes_from_its_checkpoint_exactly(tmp_path: Path) -> None:
    spec = _spec("prune-resume", refine_rounds=2)
    whole = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = create_study(spec, optuna.storages.InMemoryStorage())
    crash = crash_at(1 + 2 * 2 + 1)  # warm-up, two steps, then in the third step

    with pytest.raises(TrialStopped, match="step 2"):
        run_lambda_path(study, spec, on_epoch=crash, checkpoints=store)
    run_lambda_path(study, spec, checkpoints=store)

    def done(s: optuna.Study) -> list[tuple[Any, ...]]:
        return [(t.params, t.values, t.user_attrs["final_widths"]) for t in
                sorted(s.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)]

    assert done(study) == done(whole) and any(
        "path_snapshot" in t.user_attrs for t in study.trials)
    interrupted = [t for t in study.trials if t.user_attrs.get("path_interrupted")]
    assert spent(study.trials).macs == pytest.approx(
        spent(whole.trials).macs + interrupted[0].user_attrs["search_cost_macs"])


def test_a_prune_path_takes_no_ratio_passes_and_notes_an_unused_lambda_range() -> None:
    base = {"name": "p", "dataset": {"name": "digits"},
            "search": {"kind": "prune_path", "n_trials": 4, "lam_min": 0.01}}
    assert "a prune path trains at λ = 0" in load_spec(base).notes()[0]
    with pytest.raises(ValueError, match=r"path\.ratio_passes"):
        load_spec({**base, "search": {**base["search"], "path": {"ratio_passes": [2.0]}}})
