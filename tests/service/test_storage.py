"""Storage functions on real SQLite and PostgreSQL databases (no workers here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import inspect, select, text

from service.errors import ConflictError, NotFoundError, StorageUnavailableError
from service.scheduler import (
    claim_trial,
    create_comparison,
    create_study_record,
    fail_trial,
    finish_trial,
    reap_stale_trials,
)
from service.storage import (
    SCHEMA_VERSION,
    cancel_study,
    comparison_status,
    comparison_studies,
    comparisons_studies,
    count_comparison_records,
    delete_comparison,
    delete_study,
    get_comparison_record,
    get_study_record,
    init_schema,
    list_comparison_records,
    list_study_records,
    live_workers,
    make_engine,
    open_storage,
    record_worker_heartbeat,
    session_scope,
    studies_progress,
    study_progress,
)
from service.storage._schema import TRIAL_STATE_INDEX, SchemaVersionRow
from shrinknets_core.errors import ConfigError

OPTUNA = str(Path(sys.executable).with_name("optuna"))


def tiny_spec(name: str, *, n_trials: int = 3, kind: str = "lambda") -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"name": "digits"},
        "architecture": {"depth": 2, "max_width": 8},
        "training": {"epochs": 1},
        # independent λ trials: claims start several at once (the warm start has its own
        # tests: tests/service/test_warm_start_workers.py)
        "search": {"kind": kind, "n_trials": n_trials, "sampler": "random",
                   "warm_start": False},
    }


@pytest.fixture
def backend(storage_url: str) -> tuple[optuna.storages.RDBStorage, Any, str]:
    storage = open_storage(storage_url, heartbeat_interval=1, grace_period=2)
    engine = make_engine(storage_url)
    init_schema(engine)
    return storage, engine, storage_url


def test_schema_is_versioned_and_idempotent(backend: Any) -> None:
    _, engine, _ = backend
    assert init_schema(engine) == SCHEMA_VERSION
    assert init_schema(engine) == SCHEMA_VERSION
    with session_scope(engine) as session:
        versions = session.scalars(select(SchemaVersionRow.version)).all()
    assert versions == [SCHEMA_VERSION]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO snk_schema_version (version, applied_at) "
                          "VALUES (:v, CURRENT_TIMESTAMP)"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(ConflictError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        init_schema(engine)


def test_a_version_1_database_keeps_every_spec_in_its_one_copy(db_url: str) -> None:
    storage = open_storage(db_url, heartbeat_interval=1, grace_period=2)
    engine = make_engine(db_url)
    init_schema(engine)
    made = create_study_record(storage, engine, tiny_spec("made here"))
    bare = optuna.create_study(study_name="written by version 1", storage=storage)
    old_spec = tiny_spec("only in the row", kind="width")
    json_type = "JSON" if db_url.startswith("postgresql") else "TEXT"
    with engine.begin() as conn:  # back to version 1: a second copy in snk_studies.spec
        conn.execute(text(f"ALTER TABLE snk_studies ADD COLUMN spec {json_type}"))
        conn.execute(text("UPDATE snk_schema_version SET version = 1"))
        conn.execute(text("UPDATE snk_studies SET spec = :s"), {"s": json.dumps(made.spec)})
        conn.execute(text(
            "INSERT INTO snk_studies (id, study_name, kind, dataset, status, n_trials, spec, "
            "created_at) VALUES ('v1study', :n, 'width', 'digits', 'queued', 3, :s, "
            "CURRENT_TIMESTAMP)"), {"n": bare.study_name, "s": json.dumps(old_spec)})

    assert init_schema(engine) == SCHEMA_VERSION == 2
    assert "spec" not in {c["name"] for c in inspect(engine).get_columns("snk_studies")}
    with session_scope(engine) as session:
        assert session.scalars(select(SchemaVersionRow.version)).all() == [1, 2]
    assert get_study_record(engine, made.id).spec == made.spec
    assert get_study_record(engine, "v1study").spec == old_spec  # copied from the row
    assert optuna.load_study(study_name=bare.study_name,
                             storage=storage).user_attrs["spec"] == old_spec
    engine.dispose()


def test_a_record_reads_its_spec_from_the_optuna_study(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"one copy {tmp_path.name}"))
    study = optuna.load_study(study_name=record.study_name, storage=storage)
    changed = {**record.spec, "name": "renamed in Optuna"}
    study.set_user_attr("spec", changed)
    assert get_study_record(engine, record.id).spec == changed
    assert "spec" not in {c["name"] for c in inspect(engine).get_columns("snk_studies")}


def test_sqlite_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    for engine in (make_engine(url), storage.engine):
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_create_get_list_study(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"s {tmp_path.name}", n_trials=4))
    assert (record.status, record.kind, record.n_trials, record.dataset) == (
        "queued", "lambda", 4, "digits")
    assert record.study_name.endswith(f"-lambda-{record.id}")
    assert get_study_record(engine, record.id) == record
    attrs = optuna.load_study(study_name=record.study_name, storage=storage).user_attrs
    assert attrs["spec"]["search"]["n_trials"] == 4
    assert (attrs["status"], attrs["service_id"], attrs["kind"]) == ("queued", record.id, "lambda")

    width = create_study_record(storage, engine, tiny_spec(f"w {tmp_path.name}", kind="width"))
    page, total = list_study_records(engine, kind="width", limit=1000)
    assert width.id in [r.id for r in page] and record.id not in [r.id for r in page]
    assert total >= 1
    page, total = list_study_records(engine, offset=0, limit=1)
    assert len(page) == 1 and total >= 2
    with pytest.raises(NotFoundError, match="study 'nope' does not exist"):
        get_study_record(engine, "nope")


def test_failed_row_insert_leaves_no_optuna_study(tmp_path: Path) -> None:
    """All or nothing: the Optuna study is deleted again when the row cannot be written."""
    storage = open_storage(f"sqlite:///{tmp_path / 'a.db'}", heartbeat_interval=1, grace_period=2)
    no_tables = make_engine(f"sqlite:///{tmp_path / 'b.db'}")  # init_schema never ran here
    with pytest.raises(StorageUnavailableError, match="snk_"):
        create_comparison(storage, no_tables, tiny_spec("half"))
    assert storage.get_all_studies() == []


def test_a_records_spec_is_parsed_once_per_process(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"parsed {tmp_path.name}"))
    again = get_study_record(engine, record.id)
    assert again is not record and again.study_spec is record.study_spec
    assert record.study_spec.model_dump(mode="json") == record.spec


def test_comparison_pairs_lambda_and_width(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    comparison = create_comparison(storage, engine, tiny_spec(f"c {tmp_path.name}"))
    lam = get_study_record(engine, comparison.lambda_study_id)
    width = get_study_record(engine, comparison.width_study_id)
    assert (lam.kind, width.kind) == ("lambda", "width")
    assert lam.comparison_id == width.comparison_id == comparison.id
    assert get_comparison_record(engine, comparison.id) == comparison
    assert comparison.id in [c.id for c in list_comparison_records(engine)]
    with pytest.raises(ConflictError, match="belongs to comparison"):
        delete_study(storage, engine, lam.id)
    delete_comparison(storage, engine, comparison.id)
    for sid in (lam.id, width.id):
        with pytest.raises(NotFoundError):
            get_study_record(engine, sid)
    names = {s.study_name for s in storage.get_all_studies()}
    assert lam.study_name not in names and width.study_name not in names


def test_comparison_of_any_arms_keeps_their_order(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    arms = ("width_hyperband", "lambda_path", "width")
    spec = tiny_spec(f"arms {tmp_path.name}")
    spec["search"]["objectives"] = ["val_loss"]
    before = count_comparison_records(engine)
    comparison = create_comparison(storage, engine, spec, arms)
    assert tuple(comparison.arms) == arms and count_comparison_records(engine) == before + 1
    assert get_comparison_record(engine, comparison.id) == comparison
    records = comparison_studies(engine, comparison)
    assert [r.kind for r in records] == ["width", "lambda_path", "width"]
    assert records[0].spec["search"]["pruner"] == "hyperband"
    assert records[2].spec["search"]["pruner"] == "none"
    assert comparison.lambda_study_id == records[1].id
    assert comparison.width_study_id == records[2].id
    other = create_comparison(storage, engine, tiny_spec(f"other {tmp_path.name}"))
    assert comparisons_studies(engine, [comparison, other]) == {
        comparison.id: records, other.id: comparison_studies(engine, other)}
    delete_comparison(storage, engine, other.id)
    assert comparisons_studies(engine, [comparison, other]) == {comparison.id: records}
    attrs = optuna.load_study(study_name=records[0].study_name, storage=storage).user_attrs
    assert (attrs["arm"], attrs["comparison_id"]) == ("width_hyperband", comparison.id)
    delete_comparison(storage, engine, comparison.id)
    assert count_comparison_records(engine) == before


@pytest.mark.parametrize(("arms", "status"), [
    ({"queued"}, "queued"),
    ({"queued", "running"}, "running"),
    ({"finished", "queued"}, "running"),
    ({"finished"}, "finished"),
    ({"finished", "failed"}, "failed"),
    ({"cancelled", "running"}, "cancelled"),
])
def test_a_comparisons_status_follows_its_arms(arms: set[str], status: str) -> None:
    assert comparison_status(arms) == status


def test_comparison_arms_default_and_bad_arms_create_nothing(
    backend: Any, tmp_path: Path
) -> None:
    storage, engine, _ = backend
    path = create_comparison(storage, engine, tiny_spec(f"p {tmp_path.name}", kind="lambda_path"))
    assert list(path.arms) == ["lambda_path", "width"] and path.width_study_id
    studies = len(storage.get_all_studies())
    for bad in (["lambda"], ["lambda", "lambda"], ["lambda", "grid"]):
        with pytest.raises(ConfigError, match="arms"):
            create_comparison(storage, engine, tiny_spec(f"bad {tmp_path.name}"), bad)
    assert len(storage.get_all_studies()) == studies
    delete_comparison(storage, engine, path.id)


def test_claim_respects_exact_budget_and_retries(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"b {tmp_path.name}", n_trials=3))
    trials = []
    while (trial := claim_trial(storage, engine, record)) is not None:
        trials.append(trial)
    assert len(trials) == 3
    assert get_study_record(engine, record.id).status == "running"
    xs = [t.suggest_float("x", 0.0, 1.0) for t in trials]
    assert len(set(xs)) == 3, "every trial gets its own sampler seed"

    assert finish_trial(storage, engine, record, trials[0], values=[0.5])
    fail_trial(storage, engine, record, trials[1], reason="worker stopped", retry=True)
    progress = study_progress(storage, record)
    assert (progress.complete, progress.failed, progress.waiting, progress.running) == (1, 1, 1, 1)

    retry = claim_trial(storage, engine, record)
    assert retry is not None and retry.params == {"x": xs[1]}, "the retry keeps the parameters"
    assert claim_trial(storage, engine, record) is None
    assert finish_trial(storage, engine, record, retry, values=[0.1])
    assert finish_trial(storage, engine, record, trials[2], values=[0.2])
    done = get_study_record(engine, record.id)
    assert done.status == "finished" and done.finished_at is not None
    assert study_progress(storage, record).complete == 3
    assert optuna.load_study(study_name=record.study_name, storage=storage).user_attrs[
        "status"] == "finished"
    failed = [t for t in storage.get_all_trials(storage.get_study_id_from_name(
        record.study_name)) if t.state == TrialState.FAIL]
    assert failed[0].user_attrs["failure_reason"] == "worker stopped"


def test_progress_of_many_studies_in_one_query_matches_each(
    backend: Any, tmp_path: Path
) -> None:
    storage, engine, _ = backend
    busy = create_study_record(storage, engine, tiny_spec(f"p1 {tmp_path.name}", n_trials=4))
    idle = create_study_record(storage, engine, tiny_spec(f"p2 {tmp_path.name}", n_trials=2))
    gone = create_study_record(storage, engine, tiny_spec(f"p3 {tmp_path.name}", n_trials=2))
    trials = [claim_trial(storage, engine, busy) for _ in range(3)]
    assert finish_trial(storage, engine, busy, trials[0], values=[0.5])
    fail_trial(storage, engine, busy, trials[1], reason="test", retry=True)
    optuna.delete_study(study_name=gone.study_name, storage=storage)

    found = studies_progress(storage, [busy, idle, gone])
    assert set(found) == {busy.id, idle.id}, "a deleted Optuna study is left out"
    assert found[busy.id] == study_progress(storage, busy)
    assert (found[busy.id].complete, found[busy.id].failed, found[busy.id].waiting,
            found[busy.id].running, found[busy.id].budget) == (1, 1, 1, 1, 4)
    assert found[idle.id] == study_progress(storage, idle)
    assert found[idle.id].done == 0 and found[idle.id].budget == 2
    assert studies_progress(storage, []) == {}


def test_trial_state_index_is_created_once_beside_optunas(backend: Any) -> None:
    storage, _, url = backend
    open_storage(url, heartbeat_interval=1, grace_period=2)  # a second open: idempotent
    indexes = {i["name"]: i["column_names"] for i in inspect(storage.engine).get_indexes("trials")}
    assert indexes[TRIAL_STATE_INDEX] == ["study_id", "state"]


def test_stale_trial_is_failed_and_retried(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend  # heartbeat 1 s, grace 2 s
    record = create_study_record(storage, engine, tiny_spec(f"h {tmp_path.name}", n_trials=1))
    trial = claim_trial(storage, engine, record)
    assert trial is not None
    trial.suggest_float("x", 0.0, 1.0)
    assert claim_trial(storage, engine, record) is None  # budget used by the RUNNING trial
    time.sleep(3.2)  # no heartbeat: as if the worker was killed
    retry = claim_trial(storage, engine, record)
    assert retry is not None and retry.number == 1 and retry.params == trial.params
    assert not finish_trial(storage, engine, record, trial, values=[1.0]), "stale result dropped"
    assert finish_trial(storage, engine, record, retry, values=[1.0])
    progress = study_progress(storage, record)
    assert (progress.complete, progress.failed) == (1, 1)


def test_cancel_stops_claims_and_reaps_without_retry(backend: Any, tmp_path: Path) -> None:
    storage, engine, _ = backend  # heartbeat 1 s, grace 2 s
    record = create_study_record(storage, engine, tiny_spec(f"x {tmp_path.name}"))
    orphan = claim_trial(storage, engine, record)
    assert orphan is not None
    assert cancel_study(engine, record.id, storage=storage).status == "cancelled"
    assert optuna.load_study(study_name=record.study_name, storage=storage).user_attrs[
        "status"] == "cancelled"
    assert claim_trial(storage, engine, record) is None
    time.sleep(3.2)  # the orphan's worker is gone: its heartbeat stops
    reap_stale_trials(storage, engine, record)
    progress = study_progress(storage, record)
    assert (progress.running, progress.failed, progress.waiting) == (0, 1, 0)
    reason = storage.get_trial(orphan._trial_id).user_attrs["failure_reason"]
    assert reason.startswith("heartbeat lost")
    assert cancel_study(engine, record.id).status == "cancelled"
    with pytest.raises(NotFoundError):
        cancel_study(engine, "missing")
    delete_study(storage, engine, record.id)
    with pytest.raises(NotFoundError):
        get_study_record(engine, record.id)


def test_worker_heartbeats(backend: Any, tmp_path: Path) -> None:
    _, engine, _ = backend
    wid = f"w-{tmp_path.name}"
    record_worker_heartbeat(engine, wid, host="h", device="cpu", pid=1)
    record_worker_heartbeat(engine, wid, host="h", device="cpu", pid=1, study_id="s",
                            trial_number=3)
    seen = {w.worker_id: w for w in live_workers(engine, within_s=30)}
    assert seen[wid].trial_number == 3 and seen[wid].study_id == "s"
    time.sleep(1.1)
    assert wid not in {w.worker_id for w in live_workers(engine, within_s=1)}


def test_optuna_cli_and_dashboard_read_the_storage(backend: Any, tmp_path: Path) -> None:
    storage, engine, url = backend
    record = create_study_record(storage, engine, tiny_spec(f"cli {tmp_path.name}", n_trials=1))
    trial = claim_trial(storage, engine, record)
    assert trial is not None
    trial.set_user_attr("params", 42)
    finish_trial(storage, engine, record, trial, values=[0.25])

    def optuna_cli(*args: str) -> Any:
        out = subprocess.run([OPTUNA, *args, "--storage", url, "-f", "json"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        return json.loads(out)

    studies = {s["name"]: s for s in optuna_cli("studies")}
    attrs = studies[record.study_name]["user_attrs"]
    assert attrs["status"] == "finished" and attrs["spec"]["name"] == f"cli {tmp_path.name}"
    trials = optuna_cli("trials", "--study-name", record.study_name)
    assert trials[0]["value"] == 0.25 and trials[0]["user_attrs"]["params"] == 42
    best = optuna_cli("best-trials", "--study-name", record.study_name)
    assert best[0]["number"] == 0

    import io
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    app = wsgi(url)

    def get(path: str) -> Any:
        environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET",
                                   "wsgi.input": io.BytesIO()}
        setup_testing_defaults(environ)
        status: list[str] = []
        body = b"".join(app(environ, lambda s, h, *a: status.append(s)))  # type: ignore[arg-type]
        assert status[0].startswith("200"), (path, status, body[:300])
        return json.loads(body)

    summaries = {s["study_name"]: s for s in get("/api/studies")["study_summaries"]}
    detail = get(f"/api/studies/{summaries[record.study_name]['study_id']}")
    assert [t["values"] for t in detail["trials"]] == [[0.25]]


def test_a_trial_whose_claim_broke_off_is_failed_and_retried(backend: Any, tmp_path: Path) -> None:
    """A RUNNING trial without any heartbeat (the database went away between ``ask`` and the
    first heartbeat) is failed by the next claim, with its reason, and retried: Optuna's own
    stale check skips it, which left it holding the budget forever."""
    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"y {tmp_path.name}", n_trials=1))
    broken = optuna.load_study(study_name=record.study_name, storage=storage).ask()
    assert storage.get_trial(broken._trial_id).state == TrialState.RUNNING
    retry = claim_trial(storage, engine, record)
    assert retry is not None and retry.number != broken.number
    failed = storage.get_trial(broken._trial_id)
    assert failed.state == TrialState.FAIL
    assert "before the first heartbeat" in failed.user_attrs["failure_reason"]
    assert claim_trial(storage, engine, record) is None  # the budget of 1 is the retry's


def test_a_study_whose_every_trial_fails_ends_failed_with_the_reason(
    backend: Any, tmp_path: Path
) -> None:
    from service.scheduler import MAX_EXTRA_FAILURES

    storage, engine, _ = backend
    record = create_study_record(storage, engine, tiny_spec(f"f {tmp_path.name}", n_trials=2))
    failures = 0
    while (trial := claim_trial(storage, engine, record)) is not None:
        fail_trial(storage, engine, record, trial, reason=f"ConfigError: bad {failures}",
                   retry=False)
        failures += 1
    assert failures == 2 + MAX_EXTRA_FAILURES
    done = get_study_record(engine, record.id)
    assert done.status == "failed" and done.finished_at is not None
    assert done.error is not None
    assert f"stopped after {failures} failed trials, with 0 of the 2 trials" in done.error
    assert f"ConfigError: bad {failures - 1}" in done.error, "names the last failure"
    assert study_progress(storage, record).failed == failures
    assert optuna.load_study(study_name=record.study_name, storage=storage).user_attrs[
        "status"] == "failed"


def test_a_refining_path_is_bounded_by_its_compute_not_its_trials() -> None:
    from service.storage._progress import Progress, trials_bound

    path = {"name": "p", "dataset": {"name": "digits"},
            "search": {"kind": "lambda_path", "n_trials": 4, "max_macs": 1e9}}
    assert not trials_bound(path)
    assert trials_bound({**path, "search": {**path["search"], "path": {"refine": "none"}}})
    assert trials_bound({**path, "search": {"kind": "lambda_path", "n_trials": 4}})
    assert trials_bound({**path, "search": {"kind": "width", "n_trials": 4, "max_macs": 1e9}})
    progress = Progress(complete=9, running=0, failed=0, pruned=0, budget=4,
                        spent_macs=2.5e8, max_macs=1e9, trials_bound=False)
    assert progress.fraction == 0.25  # 9 trials past a 4-point grid: the compute says
