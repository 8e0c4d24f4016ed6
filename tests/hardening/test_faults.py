"""Faults with real processes: kill -9 of workers, API restarts, PostgreSQL connections
dropped, SQLite under concurrent writers, and an unwritable data directory.

Workers and APIs are real processes forked from a pre-imported parent (``_forkserver.py``)
or exec'd (``python -m service.worker``); the databases are a fresh SQLite file or a fresh
PostgreSQL database per test. Heartbeats are 1 s and the grace period 6 s
(``SHRINKNETS_*`` variables, ``_hardening.FAST_ENV``), so a killed trial is failed and
retried within seconds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from _campaign import PHASES, Campaign
from _hardening import (
    GRACE_PERIOD_S,
    Api,
    ForkServer,
    TrialRow,
    assert_clean_error,
    drop_connections,
    inspect_engine,
    pg_admin,
    spawn_cli,
    start_api,
    study_statuses,
    tiny_spec,
    trial_rows,
    wait_until,
)
from _pg import POSTGRES_SLOW, fresh_pg_database
from sqlalchemy.engine import Engine

from service.scheduler import create_study_record
from service.storage import init_schema, make_engine, open_storage

EPOCHS = 4
#: Kills in the default run: 20 on SQLite (the default storage) and 12 on PostgreSQL, 32 in
#: one run; the soak variant (``make test-slow``) kills 60 times on each.
DEFAULT_KILLS = {"sqlite": 20, "postgres": 12}
SOAK_KILLS = 60


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: an SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faults.db'}"
        return
    with fresh_pg_database(request.node.name) as (url, _name):
        yield url


def create_studies(url: str, count: int, *, n_trials: int, epochs: int = EPOCHS) -> list[str]:
    """Queue ``count`` tiny studies; their Optuna names."""
    storage = open_storage(url, heartbeat_interval=1, grace_period=GRACE_PERIOD_S)
    engine = make_engine(url)
    init_schema(engine)
    names = []
    for i in range(count):
        record = create_study_record(storage, engine, tiny_spec(f"fault{i}", n_trials=n_trials,
                                                                 epochs=epochs))
        names.append(record.study_name)
    return names


def lineage(trial: TrialRow) -> int:
    """The number of the first attempt this trial retries (its own number if none)."""
    return int(trial.system.get("failed_trial", trial.number))


def assert_exact_budgets(engine: Engine, names: list[str], *, n_trials: int,
                         epochs: int = EPOCHS) -> dict[str, Counter[str]]:
    """Every study finished with exactly ``n_trials`` complete trials, nothing RUNNING or
    WAITING, at most one complete trial per claim lineage, full results on each."""
    statuses = study_statuses(engine)
    states: dict[str, Counter[str]] = {}
    for name in names:
        status, error = statuses[name]
        assert (status, error) == ("finished", None), (name, status, error)
        trials = trial_rows(engine, name)
        counts = Counter(t.state for t in trials)
        states[name] = counts
        assert counts["COMPLETE"] == n_trials, (name, counts)
        assert counts["RUNNING"] == 0 and counts["WAITING"] == 0, (name, counts)
        complete = [t for t in trials if t.state == "COMPLETE"]
        roots = Counter(lineage(t) for t in complete)
        assert max(roots.values()) == 1, f"{name}: one claim completed twice: {roots}"
        for t in complete:
            assert len(t.attrs["history"]) == epochs, (name, t.number, t.attrs.get("history"))
            assert t.attrs["params"] > 0 and "val_loss" in t.attrs, (name, t.number, t.attrs)
    return states


def _kill_campaign(fork: ForkServer, url: str, log_dir: Path, *, kills: int, studies: int,
                   timeout: float) -> None:
    n_trials = 5
    names = create_studies(url, studies, n_trials=n_trials)
    campaign = Campaign(fork, url, log_dir, names, epochs=EPOCHS,
                        max_kills_per_study=n_trials + 3)
    campaign.run(workers=3, kills=kills, timeout=timeout)
    phases = Counter(k.phase for k in campaign.kills)
    print(f"{len(campaign.kills)} kills by phase: {dict(phases)}; epochs done at kill: "
          f"{sorted(Counter(k.epochs_done for k in campaign.kills).items())}")
    assert len(campaign.kills) >= kills, phases
    assert set(phases) == set(PHASES), phases
    engine = inspect_engine(url)
    try:
        states = assert_exact_budgets(engine, names, n_trials=n_trials)
    finally:
        engine.dispose()
    failed = sum(c["FAIL"] for c in states.values())
    assert failed >= len([k for k in campaign.kills if k.phase != "report"]), failed


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_kill_9_at_chosen_points_keeps_every_budget_exact(
    fork_server: ForkServer, db_url: str, tmp_path: Path
) -> None:
    """Workers killed before the first epoch, between epochs (right after removal) and
    while reporting: every study still ends with exactly its budget."""
    kills = DEFAULT_KILLS["sqlite" if db_url.startswith("sqlite") else "postgres"]
    _kill_campaign(fork_server, db_url, tmp_path, kills=kills, studies=4, timeout=240)


@pytest.mark.slow
def test_kill_9_soak(fork_server: ForkServer, db_url: str, tmp_path: Path) -> None:
    _kill_campaign(fork_server, db_url, tmp_path, kills=SOAK_KILLS, studies=10, timeout=600)


# -- API restart -------------------------------------------------------------------------
def _post_study(api: Api, name: str, **kw: Any) -> str:
    response = api.post("/studies", json=tiny_spec(name, **kw))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _progress(api: Api, study_id: str) -> dict[str, Any]:
    response = api.get(f"/studies/{study_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    return {"status": body["status"], **body["progress"]}


@pytest.mark.parametrize("db_url", POSTGRES_SLOW, indirect=True)
def test_api_restart_mid_study_loses_nothing(
    fork_server: ForkServer, db_url: str, tmp_path: Path
) -> None:
    """kill -9 and then SIGTERM of the API while workers train: studies, trials and
    workers carry on; the restarted API serves the same ids and finishes the story."""
    api = start_api(fork_server, db_url, tmp_path / "var", tmp_path / "api-1.log")
    port = int(api.base.rsplit(":", 1)[1])
    ids = [_post_study(api, f"restart{i}", n_trials=6) for i in range(2)]
    # one forked worker and one exec'd `python -m service.worker`, the command users run
    workers = [fork_server.worker(db_url, tmp_path / "w0.log"),
               spawn_cli(["-m", "service.worker", "--storage", db_url, "--device", "cpu"],
                         tmp_path / "w1.log", {})]
    try:
        wait_until(lambda: _progress(api, ids[0])["complete"] >= 2, timeout=90,
                   what="two complete trials")
        before = {sid: _progress(api, sid)["complete"] for sid in ids}
        api.proc.kill()  # the API dies without warning mid-study
        engine = inspect_engine(db_url)
        # workers carry on alone: some trial completes while no API runs
        wait_until(lambda: _complete_count(engine) > sum(before.values()), timeout=30,
                   what="a trial completing while the API is down")
        api = start_api(fork_server, db_url, tmp_path / "var", tmp_path / "api-2.log", port=port)
        listed = api.get("/studies").json()
        assert {s["id"] for s in listed["items"]} == set(ids)
        api.proc.terminate()  # a graceful restart as well
        api = start_api(fork_server, db_url, tmp_path / "var", tmp_path / "api-3.log", port=port)
        wait_until(lambda: all(_progress(api, sid)["status"] == "finished" for sid in ids),
                   timeout=90, what="both studies finishing")
        for sid in ids:
            progress = _progress(api, sid)
            assert progress["complete"] == 6 and progress["failed"] == 0, progress
            trials = api.get(f"/studies/{sid}/trials").json()
            assert trials["total"] == 6
            assert all(t["state"] == "COMPLETE" for t in trials["items"])
        assert all(w.alive() for w in workers), "a worker died while the API restarted"
        assert not [w for w in workers if "Traceback" in w.text()], "a worker logged an error"
        engine.dispose()
    finally:
        for w in workers:
            w.terminate()
        api.proc.terminate()


def _complete_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM trials WHERE state = 'COMPLETE'")).scalar() or 0)


# -- PostgreSQL connections dropped ------------------------------------------------------
def _outage(api: Api, db: str, sid: str, seconds: float) -> Counter[int]:
    """Refuse and drop every connection of ``db`` for ``seconds`` while a client keeps asking;
    the status codes it got. Every 5xx must be a clean 503 naming the database."""
    statuses: Counter[int] = Counter()
    drop_connections(db, block=True)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for response in (api.get(f"/studies/{sid}"), api.get("/studies"),
                             api.get(f"/studies/{sid}/trials"),
                             api.post("/studies", json=tiny_spec("during"))):
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    error = assert_clean_error(response)
                    assert response.status_code == 503, error
                    assert error["code"] == "storage_unavailable", error
                    assert "database" in error["message"], error
            drop_connections(db, block=True)
            time.sleep(0.2)
    finally:
        pg_admin(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
    return statuses


def _pg_outages(fork: ForkServer, tmp_path: Path, *, outages: int, n_trials: int) -> None:
    with fresh_pg_database("pgdrop") as (url, db):
        api = start_api(fork, url, tmp_path / "var", tmp_path / "api.log")
        sid = _post_study(api, "pgdrop", n_trials=n_trials)
        workers = [fork.worker(url, tmp_path / f"w{i}.log") for i in range(2)]
        try:
            wait_until(lambda: _progress(api, sid)["complete"] >= 1, timeout=60,
                       what="a complete trial")
            # connections dropped and immediately allowed again: transparent or a 503
            assert drop_connections(db, block=False) >= 2
            seen = Counter(api.get(f"/studies/{sid}").status_code for _ in range(3))
            assert set(seen) <= {200, 503}, seen
            for _ in range(outages):  # the database refuses connections for a few seconds
                statuses = _outage(api, db, sid, seconds=4)
                print(f"answers while the database was away: {dict(statuses)}")
                assert statuses[503] > 0 and set(statuses) <= {200, 201, 503}, statuses
                wait_until(lambda: api.get(f"/studies/{sid}").status_code == 200, timeout=30,
                           what="the API reconnecting")
                time.sleep(1)
            wait_until(lambda: _progress(api, sid)["status"] == "finished", timeout=180,
                       what="the study finishing after the outages")
            progress = _progress(api, sid)
            assert progress["complete"] == n_trials, progress
            dead = [w.text()[-3000:] for w in workers if not w.alive()]
            assert not dead, f"a worker exited during the outage:\n{dead[0]}"
        finally:
            for w in workers:
                w.terminate()
            api.proc.terminate()


@pytest.mark.postgres
def test_postgres_connections_dropped_and_restored(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    """pg_terminate_backend on every connection (and, for a few seconds, no new ones):
    the user sees a clear 503, never a 500; API and workers reconnect and finish."""
    _pg_outages(fork_server, tmp_path, outages=1, n_trials=8)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_outages_soak(fork_server: ForkServer, tmp_path: Path) -> None:
    _pg_outages(fork_server, tmp_path, outages=8, n_trials=30)


# -- SQLite: three workers and the API writing at once -----------------------------------
def test_sqlite_three_workers_and_api_writing_never_lock(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    api = start_api(fork_server, url, tmp_path / "var", tmp_path / "api.log")
    workers = [fork_server.worker(url, tmp_path / f"w{i}.log") for i in range(3)]
    answers: list[httpx.Response] = []
    created: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=f"{api.base}/api/v1", timeout=60) as c:
            for i in range(4):
                r = c.post("/studies", json=tiny_spec(f"busy{k}-{i}", n_trials=3, epochs=2))
                got = [r]
                if r.status_code == 201:
                    sid = r.json()["id"]
                    if i == 3:  # cancel one study per client while workers run
                        got.append(c.post(f"/studies/{sid}/cancel"))
                    else:
                        with lock:
                            created.append(sid)
                    got += [c.get("/studies"), c.get(f"/studies/{sid}/trials")]
                with lock:
                    answers.extend(got)

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        bad = [(r.status_code, r.text[:300]) for r in answers if r.status_code >= 400]
        assert not bad, bad
        assert len(created) == 12
        wait_until(lambda: all(_progress(api, sid)["status"] == "finished" for sid in created),
                   timeout=120, what="every study finishing")
        for sid in created:
            progress = _progress(api, sid)
            assert progress["complete"] == 3 and progress["failed"] == 0, progress
        logs = "".join(p.text() for p in (api.proc, *workers))
        assert "database is locked" not in logs
        assert all(w.alive() for w in workers)
    finally:
        for w in workers:
            w.terminate()
        api.proc.terminate()


# -- uploads onto an unwritable or full disk ---------------------------------------------
def _csv_bytes(rows: int) -> bytes:
    lines = ["a,b,c,label"] + [f"{i % 7}.5,{i % 5}.25,{i % 3}.125,{i % 2}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_upload_into_unwritable_data_dir_is_refused_cleanly(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    (data / "datasets").mkdir(parents=True)
    (data / "datasets").chmod(0o555)
    url = f"sqlite:///{tmp_path / 'api.db'}"
    api = start_api(fork_server, url, data, tmp_path / "api.log", honour_permissions=True)
    try:
        response = api.post("/datasets", files={"file": ("ok.csv", _csv_bytes(50))},
                            data={"name": "ok"})
        assert response.status_code == 507, response.text
        error = assert_clean_error(response)
        assert error["code"] == "insufficient_storage"
        assert "SHRINKNETS_DATA_DIR" in error["message"] and "nothing was kept" in error["message"]
        assert _leftovers(data / "datasets") == []
        listed = api.get("/datasets").json()["items"]
        assert "ok" not in {d["name"] for d in listed}
    finally:
        api.proc.terminate()
        (data / "datasets").chmod(0o755)


def test_upload_onto_a_full_disk_leaves_nothing_half_written(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    url = f"sqlite:///{tmp_path / 'api.db'}"
    api = start_api(fork_server, url, data, tmp_path / "api.log", fsize_bytes=2_000_000)
    try:
        big = _csv_bytes(120_000)
        assert len(big) > 2_000_000
        response = api.post("/datasets", files={"file": ("big.csv", big)}, data={"name": "big"})
        assert response.status_code == 507, response.text
        error = assert_clean_error(response)
        assert error["code"] == "insufficient_storage" and "nothing was kept" in error["message"]
        assert _leftovers(data / "datasets") == []
        small = api.post("/datasets", files={"file": ("small.csv", _csv_bytes(60))},
                         data={"name": "small"})
        assert small.status_code == 201, small.text  # the server is fine afterwards
        assert _leftovers(data / "datasets") == ["small.csv", "small.json"]
    finally:
        api.proc.terminate()
