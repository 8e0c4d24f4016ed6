"""A PostgreSQL outage shorter than the heartbeat grace period costs no training.

A real worker process trains a study on a fresh PostgreSQL database; while its first trial
trains, the database refuses every connection (``ALLOW_CONNECTIONS false``, and every
backend that slips in is terminated) for 5 s — 15 s and 30 s in ``make test-slow``. The
worker must train on, keep its per-epoch writes, write them when the database is back and
complete the trial: no failed trial, no retry, every epoch stored once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _hardening import (
    ForkServer,
    TrialRow,
    drop_connections,
    inspect_engine,
    pg_admin,
    running_histories,
    tiny_spec,
    trial_rows,
    wait_until,
)
from _pg import fresh_pg_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from service.scheduler import create_study_record
from service.storage import init_schema, make_engine, open_storage

pytestmark = pytest.mark.postgres

EPOCHS = 12
N_TRIALS = 2


def _stored_epochs(engine: Engine) -> int:
    """Epochs in the ``history`` of the (one) RUNNING trial; 0 when none runs."""
    histories = [h for h in running_histories(engine).values() if h]
    return max((h.count('"epoch"') for h in histories), default=0)


def _intermediate_values(engine: Engine, trial: TrialRow) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM trial_intermediate_values WHERE trial_id = :t"),
            {"t": trial.trial_id}).scalar_one())


@pytest.mark.parametrize("seconds", [
    5,
    pytest.param(15, marks=pytest.mark.slow),
    pytest.param(30, marks=pytest.mark.slow),
])
def test_an_outage_shorter_than_the_grace_period_recomputes_no_epoch(
    fork_server: ForkServer, tmp_path: Path, seconds: int
) -> None:
    grace = seconds + 15
    with fresh_pg_database(f"outage{seconds}") as (url, db):
        storage = open_storage(url, heartbeat_interval=1, grace_period=grace)
        engine = make_engine(url)
        init_schema(engine)
        spec = tiny_spec("outage", n_trials=N_TRIALS, epochs=EPOCHS, batch_size=2)
        spec["architecture"]["max_width"] = 256  # about 0.7 s an epoch: the outage hits one
        record = create_study_record(storage, engine, spec)
        check = inspect_engine(url)
        worker = fork_server.worker(url, tmp_path / "worker.log", env={
            "SHRINKNETS_HEARTBEAT_INTERVAL_S": "1",
            "SHRINKNETS_GRACE_PERIOD_S": str(grace),
        })
        try:
            wait_until(lambda: _stored_epochs(check) >= 2, timeout=120,
                       what="the first trial training")
            before = _stored_epochs(check)
            start = time.monotonic()
            try:
                while time.monotonic() - start < seconds:
                    drop_connections(db, block=True)
                    time.sleep(0.25)
            finally:
                pg_admin(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
            back = time.monotonic()
            wait_until(lambda: trial_rows(check, record.study_name)[0].state == "COMPLETE",
                       timeout=grace + 60, what="the first trial completing")
            completed_after = time.monotonic() - back

            def finished() -> bool:
                rows = trial_rows(check, record.study_name)
                return sum(t.state == "COMPLETE" for t in rows) == N_TRIALS

            wait_until(finished, timeout=120, what="the study finishing")
            rows = trial_rows(check, record.study_name)
            recomputed = sum(len(t.attrs.get("history", [])) for t in rows
                             if t.state != "COMPLETE")
            print(f"outage {seconds} s: {before} epochs stored before it, recomputed epochs "
                  f"{recomputed}, first trial complete {completed_after:.1f} s after the "
                  "database came back")
            assert [t.state for t in rows] == ["COMPLETE"] * N_TRIALS, rows
            assert recomputed == 0
            for trial in rows:
                epochs = [h["epoch"] for h in trial.attrs["history"]]
                assert epochs == list(range(1, EPOCHS + 1)), (trial.number, epochs)
                assert _intermediate_values(check, trial) == EPOCHS
            log = worker.text()
            assert "training goes on and its writes are kept" in log, log[-3000:]
            assert worker.alive(), log[-3000:]
        finally:
            worker.terminate()
            check.dispose()
