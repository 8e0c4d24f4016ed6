"""The λ path after its grid: continued fine-tunes, their order, shifted passes, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from _study_helpers import crash_at, tiny_spec
from optuna.trial import TrialState

from shrinknets_core.training.trainer import EpochRecord
from studies import TrialStopped, create_study, run_lambda_path, run_study
from studies._path_refine import (
    Snapshot,
    drop_dominated,
    next_candidate,
    pass_count,
    pass_grid,
    pass_plan,
    pass_shift,
    round_order,
)
from studies._path_steps import PathState
from studies._search_space import fixed_plan, train_config
from studies._selection import BestEpoch
from studies.budget import spent
from studies.objectives import continue_finetune, train_trial

_LIVE: Any = object()  # stands for a snapshot's trainer in the order tests


def _snap(step: int, loss: float, params: int, epochs: int = 5, **kw: Any) -> Snapshot:
    return Snapshot(step, 0.1, loss, params, epochs, 10, tuner=_LIVE, best=_LIVE, **kw)


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_continued_finetune_equals_one_uninterrupted_finetune() -> None:
    """3 fine-tune epochs, then 2 more from the same trainer, give the network and kept
    values of one 5-epoch fine-tune."""
    spec = tiny_spec("lambda", "cont", training_overrides={"finetune_epochs": 3})
    plan = fixed_plan(spec, 0.05)
    config = train_config(spec, plan, seed=7, device="cpu")
    first = train_trial(spec, plan, config, hooks=[], finetune_epochs=3)
    assert first.finetuner is not None and first.best is not None
    more = continue_finetune(first.finetuner, first.best, 2, hooks=[],
                             epoch_offset=int(first.history[-1]["epoch"]))
    whole = train_trial(spec, plan, config, hooks=[], finetune_epochs=5)
    assert whole.finetuner is not None
    assert [h["epoch"] for h in more.history] == [6, 7]  # 2 λ epochs + 3 + 2
    for a, b in zip(_params(more.finetuner.model), _params(whole.finetuner.model),  # type: ignore[union-attr]
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert more.result.val_loss == pytest.approx(whole.result.val_loss, rel=1e-5)
    assert more.result.params == whole.result.params
    assert more.selected_epoch == whole.selected_epoch
    # the continuation's costs are its own two epochs
    assert more.result.cost_macs == sum(h["cost_macs"] for h in whole.history[-2:])


def test_candidates_are_undominated_at_equal_training_cheapest_first() -> None:
    snaps = {
        0: _snap(0, 0.10, 5000),
        1: _snap(1, 0.20, 900),
        2: _snap(2, 0.15, 1200, epochs=5),
        3: _snap(3, 0.30, 800, converged=True),  # on the front but converged
        4: _snap(4, 0.25, 1000),  # dominated by 2? no: 1000 < 1200; by 1: 900, 0.20 < 0.25
        5: _snap(5, 0.12, 2000, epochs=5),
        6: _snap(6, 0.11, 1900, epochs=40),  # refined: dominates 5, but trained longer
    }
    assert round_order(snaps) == [1, 2, 6, 5, 0]  # 4 dominated by 1, 3 converged
    drop_dominated(snaps)
    assert snaps[4].tuner is None and snaps[3].tuner is None
    assert snaps[5].tuner is not None  # behind only a snapshot trained longer


def test_rounds_keep_their_order_and_end() -> None:
    snaps = {0: _snap(0, 0.10, 5000), 1: _snap(1, 0.20, 900)}
    state = PathState(next_step=0, grid=[0.1, 0.2])
    assert next_candidate(state, snaps, rounds=2) == 1
    assert state.refine_round == 1 and state.refine_order == [1, 0]
    state.refine_next += 1
    snaps[0].converged = True
    snaps[0].tuner = None  # dropped within the round: skipped
    assert next_candidate(state, snaps, rounds=2) == 1  # round 2 starts: 1 only
    assert state.refine_round == 2 and state.refine_order == [1]
    state.refine_next += 1
    assert next_candidate(state, snaps, rounds=2) is None  # two rounds done
    snaps[1].converged = True
    assert next_candidate(state, snaps, rounds=None) is None  # nothing left


def test_shifted_passes_halve_the_gaps() -> None:
    assert [pass_shift(i) for i in range(1, 6)] == [0.5, 0.25, 0.75, 0.125, 0.625]
    grid = [0.01, 0.1, 1.0]
    assert pass_grid(grid, 0) == grid
    assert pass_grid(grid, 1) == pytest.approx([0.01 * 10**0.5, 0.1 * 10**0.5])
    assert pass_grid(grid, 2) == pytest.approx([0.01 * 10**0.25, 0.1 * 10**0.25])


def test_best_epoch_selection_keeps_the_best_epochs_network() -> None:
    """The kept network is the best validation epoch's at the final widths: its values,
    its parameters, its test loss; a change of widths starts the selection again."""
    spec = tiny_spec("width", "best")
    plan = fixed_plan(spec, 0.0)
    config = train_config(spec, plan, seed=1, device="cpu")
    run = train_trial(spec, plan, config, hooks=[])
    trainer = run.trainer
    best = BestEpoch()
    widths = trainer.model.alive_widths()

    def record(epoch: int, loss: float, w: list[int]) -> EpochRecord:
        return EpochRecord(epoch=epoch, widths=w, params=123, macs_per_sample=1,
                           train_loss=1.0, val_loss=loss, val_accuracy=0.5, lr=1e-3,
                           wall_time_s=0.1, cost_macs=1, live_inputs=1.0, samples=1,
                           removed=0)

    best.observe(trainer, record(1, 0.05, [w + 1 for w in widths]))  # other widths
    best.observe(trainer, record(2, 0.40, widths))  # first at the final widths
    kept = _params(trainer.model)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(1.0)  # the network moves on after the best epoch
    best.observe(trainer, record(3, 0.90, widths))
    final = run.result
    chosen = best.select(trainer, final)
    assert chosen.epoch == 2
    assert chosen.result.val_loss == 0.40 and chosen.result.params == 123
    for a, b in zip(_params(chosen.model), kept, strict=True):
        torch.testing.assert_close(a, b)
    assert chosen.result.test_loss == pytest.approx(trainer.evaluate("test", chosen.model)[0])
    assert chosen.result.history is final.history  # costs and history stay whole
    # a last epoch that is also the best keeps the final network
    worse = BestEpoch()
    worse.observe(trainer, record(1, final.val_loss + 1.0, widths))
    assert worse.select(trainer, final).model is trainer.model


def _path_spec(name: str, **path: Any) -> Any:
    return tiny_spec(
        "lambda_path", name, n_trials=3,
        path={"warmup_epochs": 1, "epochs_per_step": 1, "finetune_epochs": 1,
              "refine_epochs": 1, **path},
    )


def _trials(study: optuna.Study) -> list[tuple[Any, ...]]:
    out = []
    for t in sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        a = t.user_attrs
        out.append((a.get("path_pass", 0), a.get("path_step"), a.get("path_snapshot"),
                    a.get("path_round"), tuple(a["final_widths"]), round(t.values[0], 5)))
    return out


def test_path_refines_its_front_after_the_grid() -> None:
    spec = _path_spec("refine", refine_rounds=2)
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    trials = _trials(study)
    assert [t[1] for t in trials[:3]] == [0, 1, 2]
    refined = [t for t in trials if t[2] is not None]
    assert refined and {t[3] for t in refined} <= {1, 2}
    assert study.user_attrs["path_end"] == "refined: 2 round(s) done"
    assert study.user_attrs["path_grid_end"] in ("end of the grid",
                                                 "collapsed: every layer is down to one neuron")
    # each round cheapest first; each continuation keeps its snapshot's widths and λ
    steps = {t.user_attrs["path_step"]: t for t in study.trials if "path_step" in t.user_attrs}
    for t in study.trials:
        if "path_snapshot" in t.user_attrs:
            snap = steps[t.user_attrs["path_snapshot"]]
            assert t.params["lam"] == snap.params["lam"]
            assert t.user_attrs["final_widths"] == snap.user_attrs["final_widths"]
            assert t.user_attrs["finetune_epochs_total"] == 1 + t.user_attrs["path_round"]
    for r in (1, 2):
        sizes = [t[4] for t in refined if t[3] == r]
        assert [a * b for a, b in sizes] == sorted(a * b for a, b in sizes)


def test_path_without_a_compute_budget_ends_at_its_grid() -> None:
    spec = _path_spec("no-refine")
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    assert all("path_snapshot" not in t.user_attrs for t in study.trials)
    assert study.user_attrs["path_end"] in ("end of the grid",
                                            "collapsed: every layer is down to one neuron")
    assert "path_grid_end" not in study.user_attrs


def test_path_spends_its_compute_budget() -> None:
    probe = run_study(_path_spec("probe", refine="none"), optuna.storages.InMemoryStorage(),
                      progress=False)
    grid_macs = spent(probe.trials).macs
    budget = 3 * grid_macs
    spec = _path_spec("spend", refine_epochs=2).model_copy(deep=True)
    search = spec.search.model_copy(update={"max_macs": budget})
    spec = spec.model_copy(update={"search": search})
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    used = spent(trials).macs
    end = study.user_attrs["path_end"]
    if end == "compute budget spent":
        assert spent(trials[:-1]).macs < budget <= used
    else:  # every snapshot converged and every pass ran before the budget was spent
        assert end.startswith("refined: no snapshot") and used < budget
        assert any(t.user_attrs.get("path_pass") for t in trials)


def test_resumed_refinement_continues_the_same_schedule(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A path stopped while refining and run again from its checkpoint stores the same
    trials, with the same values, as the uninterrupted path."""
    spec = _path_spec("resume-refine", refine_rounds=3)
    whole = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    n_grid_epochs = 1 + 3 * 2  # warm-up, then per step one λ epoch and one fine-tune epoch
    store = optuna.artifacts.FileSystemArtifactStore(str(tmp_path))
    study = create_study(spec, optuna.storages.InMemoryStorage())
    crash_while_refining = crash_at(n_grid_epochs + 3)  # the third continuation

    with pytest.raises(TrialStopped, match="refining"):
        run_lambda_path(study, spec, on_epoch=crash_while_refining, checkpoints=store)
    run_lambda_path(study, spec, checkpoints=store)
    assert _trials(study) == _trials(whole)
    assert study.user_attrs["path_end"] == whole.user_attrs["path_end"]
    interrupted = [t for t in study.trials if t.user_attrs.get("path_interrupted")]
    assert len(interrupted) == 1  # the stopped epoch is charged once
    assert spent(study.trials).macs == pytest.approx(
        spent(whole.trials).macs + interrupted[0].user_attrs["search_cost_macs"])


def test_refining_without_a_checkpoint_ends_the_path() -> None:
    spec = _path_spec("no-ckpt", refine_rounds=3)
    study = create_study(spec, optuna.storages.InMemoryStorage())
    crash = crash_at(9)

    with pytest.raises(TrialStopped):
        run_lambda_path(study, spec, on_epoch=crash)
    before = len(study.trials)
    run_lambda_path(study, spec)
    assert len(study.trials) == before
    assert "no checkpoint" in study.user_attrs["path_end"]


def test_passes_follow_the_refinement_shifted_then_by_ratio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing left to refine (the refinement is skipped here; its order has its own
    tests) the path runs its shifted passes, then one pass per ratio with the layers' λ
    spread (× r and ÷ r), and ends when no pass is left."""
    import studies._path_steps as path_steps

    monkeypatch.setattr(path_steps, "next_candidate", lambda *_args: None)
    spec = _path_spec("ratio", passes=1, ratio_passes=[4.0])
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"max_macs": 1e15})})
    study = run_study(spec, optuna.storages.InMemoryStorage(), progress=False)
    steps = sorted((t for t in study.trials if "path_step" in t.user_attrs),
                   key=lambda t: t.number)
    passes = [(t.user_attrs.get("path_pass", 0), t.user_attrs["path_step"],
               t.user_attrs.get("path_layer_scales")) for t in steps]
    grid = study.user_attrs["path_grid"]
    assert [p for p in passes if p[0] == 0] == [(0, 0, None), (0, 1, None), (0, 2, None)]
    assert [p for p in passes if p[0] == 1] == [(1, 0, None), (1, 1, None)]
    ratio_steps = [p for p in passes if p[0] == 2]
    assert ratio_steps == [(2, k, [4.0, 0.25]) for k in range(len(ratio_steps))]
    assert ratio_steps  # a ratio pass ends early only when it collapses
    last = [t for t in steps if t.user_attrs.get("path_pass") == 2][-1]
    assert len(ratio_steps) == 3 or max(last.user_attrs["final_widths"]) <= 1
    shifted = [t.params["lam"] for t in steps if t.user_attrs.get("path_pass") == 1]
    assert shifted == pytest.approx([(grid[0] * grid[1]) ** 0.5, (grid[1] * grid[2]) ** 0.5])
    ratio = [t.params["lam"] for t in steps if t.user_attrs.get("path_pass") == 2]
    assert ratio == pytest.approx(grid[: len(ratio)])
    assert study.user_attrs["path_end"].endswith("no pass is left")


def test_pass_plan_spreads_lambda_over_every_layer() -> None:
    spec = tiny_spec("lambda_path", "plan", n_trials=3, path={"passes": 2,
                                                               "ratio_passes": [2.0, 0.5]})
    grid = [0.01, 0.1, 1.0]
    assert pass_count(spec) == 4
    assert pass_plan(spec, grid, 0) == (grid, None)
    assert pass_plan(spec, grid, 3) == (grid, (2.0, 0.5))
    assert pass_plan(spec, grid, 4) == (grid, (0.5, 2.0))
    deep = spec.model_copy(update={"architecture": spec.architecture.model_copy(
        update={"depth": 3})})
    assert pass_plan(deep, grid, 3)[1] == pytest.approx((2.0, 1.0, 0.5))
    flat = spec.model_copy(update={"architecture": spec.architecture.model_copy(
        update={"depth": 1})})
    assert pass_count(flat) == 2  # one layer: no ratio to spread
