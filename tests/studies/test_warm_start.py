"""λ search from one shared warm start (``studies._warm_start``), in one process."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _study_helpers import tiny_spec
from optuna.trial import TrialState

from shrinknets_core.errors import ConfigError
from studies import create_study, run_study, run_trial
from studies.budget import spent
from studies.spec import WARM_START_ATTR, load_spec

_WARM = {"enabled": True, "warmup_epochs": 2, "lam_epochs": 1, "finetune_epochs": 1}


def _spec(name: str, **search: object) -> object:
    return tiny_spec("lambda", name, n_trials=4, objectives=["val_loss", "params"],
                     warm_start=_WARM, **search)


def test_the_warm_up_is_trained_once_and_charged_once(tmp_path: Path) -> None:
    spec = _spec("warm")
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False,  # type: ignore[arg-type]
                      checkpoints=store)
    trials = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    assert len(trials) == 4
    epochs = [[h["epoch"] for h in t.user_attrs["history"]] for t in trials]
    # the first trial trains the warm-up (epochs 1-2), its λ epoch and fine-tune epoch;
    # every other trial only its own two, numbered after the warm-up
    assert epochs == [[1, 2, 3, 4], [3, 4], [3, 4], [3, 4]]
    meta = study.user_attrs[WARM_START_ATTR]
    assert meta["trial"] == 0 and meta["artifact_id"]
    assert len(list(tmp_path.iterdir())) == 1
    warm_cost = sum(h["cost_macs"] for h in trials[0].user_attrs["history"][:2])
    own = [sum(h["cost_macs"] for h in t.user_attrs["history"]) for t in trials]
    assert trials[0].user_attrs["search_cost_macs"] == pytest.approx(own[0])
    assert spent(study.trials).macs == pytest.approx(sum(own))
    assert all(o < own[0] - warm_cost + warm_cost / 2 for o in own[1:])  # no warm-up in them


def test_another_process_reads_the_warm_up_from_the_store(tmp_path: Path) -> None:
    """A trial that finds the warm-up stored by another process loads it from the
    artifact store; without one it says what to set."""
    spec = _spec("warm-store")
    url = f"sqlite:///{tmp_path}/w.db"
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = create_study(spec, url)  # type: ignore[arg-type]
    trial = study.ask()
    run_trial(study, trial, spec, checkpoints=store)  # type: ignore[arg-type]
    meta = study.user_attrs[WARM_START_ATTR]
    from studies import _warm_start

    _warm_start._STATES.clear()  # as a fresh process would be
    second = study.ask()
    run_trial(study, second, spec, checkpoints=store)  # type: ignore[arg-type]
    assert [h["epoch"] for h in second.study.trials[-1].user_attrs["history"]] == [3, 4]
    _warm_start._STATES.clear()
    third = study.ask()
    with pytest.raises(ConfigError, match="same artifact store"):
        run_trial(study, third, spec)  # type: ignore[arg-type]
    assert study.user_attrs[WARM_START_ATTR] == meta


def test_warm_start_shorthand_and_ranges() -> None:
    base = {"name": "x", "dataset": {"name": "digits"}}
    assert load_spec({**base, "search": {"warm_start": True}}).search.warm_start.enabled
    with pytest.raises(ConfigError, match=r"warm_start\.lam_epochs"):
        load_spec({**base, "search": {"warm_start": {"lam_epochs": 0}}})
