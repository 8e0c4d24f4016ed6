"""Benchmark (not a test): the service under load, and what a worker costs around training.

Three measurements, all on this machine, loopback only, every loop bounded:

1. **API load** — a temporary SQLite storage with 10,000 trials across 20 studies (half
   λ searches, half width searches, two objectives; 15 finished, 5 running, each of those
   with 2 RUNNING trials part-way through their epochs, to which a helper process of this
   script appends one epoch every ``EPOCH_EVERY_S`` seconds, as workers do; not with
   ``--no-training``). Figures of running studies are then rebuilt, in the API's
   background thread, whenever their trials have new epochs (at most every 30 s). The
   trials are
   copies of real trials (a tiny digits MLP trained once per kind) with their parameters,
   objective values and per-epoch histories varied, inserted through Optuna's storage API
   (Optuna's table models in one transaction per study: ``study.add_trials`` takes ~60 ms a
   trial). The real API (``uvicorn --factory service.app:create_app``) runs in a
   subprocess; 50 concurrent clients (``httpx`` async, keep-alive) request a mix of the
   list, study, trials-page and plot routes in two phases:

   * **users** (60 s; ``--quick``: 10 s) — each client is one open dashboard: after each
     answer it waits 0.5–1.5 × ``--think-ms`` (default 1000 ms, three times as often as
     the study page polls) before its next request. Its p50/p99 are the JSON's ``p50_ms``
     and ``p99_ms`` (the targets' numbers).
   * **saturation** (20 s; ``--quick``: 5 s) — the same clients with no pause at all
     (closed loop): the most requests per second this API process serves on this machine
     (``saturation_rps``) and the latency then (``saturation_p99_ms``). In a closed loop
     the mean latency is clients ÷ throughput (Little's law), so 50 clients with p99
     < 100 ms would need well over 500 requests/s; with the load generator on the same
     2 cores that is out of reach, and this phase measures capacity instead.

   Latency percentiles are per route and overall; an error is any answer other than 200
   or a failed request. The load generator freezes its own heap (``gc.freeze``) before the
   clients start, so its garbage collections do not stall its clients.
2. **Worker throughput** — ``python -m service.worker`` processes (one torch thread each) on
   a fresh SQLite study of tiny trials, first 1 worker, then 2: trials per minute from the
   trials' own start/complete timestamps (process start-up excluded); speedup = 2-worker
   rate / 1-worker rate.
3. **Worker overhead** — one worker runs trials of about 5 s of training; overhead is the
   share of a trial's wall time (Optuna's ``datetime_start`` → ``datetime_complete``, i.e.
   claim to told) not spent in ``Trainer.fit`` (the trial's ``wall_time_s`` attribute).
   Each worker process first runs a short warm-up study (its one-off imports, e.g.
   ``torch._dynamo`` on the first optimizer, take seconds), so the measured trials are the
   steady state.

Targets (issue 7): p99 < 100 ms for the study and trials-page routes at 10k trials (the
users phase), 0 errors, overhead < 5 % of a 5-second trial, two-worker speedup ≥ 1.7 on
2 cores.
Other processes on the machine skew every number here; the first line prints the load
average. The API and every worker run in their own session (``start_new_session``), as
separate services do: Linux's autogroup scheduling gives each session one fair share of
the CPUs, so processes sharing this script's session would share one share, and on a busy
machine two workers could never outpace one. The last line is JSON.

Usage: ``python bench/service_load.py [--quick] [--seconds S] [--think-ms MS] [--clients N]
[--no-training] [--skip-workers]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
ROUTES = ("list", "study", "trials", "plot")
PLOTS = ("size-space", "pareto", "compute", "widths")
RUNNING_PER_STUDY = 2
"""RUNNING trials in each running study of the load storage."""
EPOCH_EVERY_S = 2.0
"""How often each RUNNING trial of the load storage reports a new epoch during the load."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s of load, fewer worker trials")
    ap.add_argument("--seconds", type=float, default=None,
                    help="users phase duration (default 60)")
    ap.add_argument("--saturation-seconds", type=float, default=None,
                    help="closed-loop phase duration (default 20; 0 skips it)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--think-ms", type=float, default=1000.0,
                    help="mean pause of each client between requests in the users phase")
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--trials", type=int, default=10_000, help="trials over all studies")
    ap.add_argument("--no-training", action="store_true",
                    help="running trials do not report new epochs during the load")
    ap.add_argument("--skip-workers", action="store_true", help="API load only")
    ap.add_argument("--skip-load", action="store_true", help="worker numbers only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.seconds is None:
        args.seconds = 10.0 if args.quick else 60.0
    if args.saturation_seconds is None:
        args.saturation_seconds = 5.0 if args.quick else 20.0
    return args


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
            "SHRINKNETS_WORKER_THREADS": "1", "SHRINKNETS_WORKER_POLL_S": "0.2", **extra}


def _spec(name: str, kind: str, *, n_trials: int, epochs: int, width: int,
          batch: int = 64) -> dict[str, Any]:
    return {
        "name": name, "dataset": {"name": "digits"},
        "architecture": {"kind": "mlp", "depth": 2, "max_width": width},
        "training": {"epochs": epochs, "batch_size": batch, "device": "cpu"},
        "search": {"kind": kind, "n_trials": n_trials, "sampler": "random", "seed": 0,
                   "objectives": ["val_loss", "params"]},
    }


# -- 1. a storage with 10,000 trials -------------------------------------------------------
def _templates() -> dict[str, Any]:
    """One real trained trial per kind (a FrozenTrial) to copy from."""
    import optuna
    import torch

    from studies.execute import ask_trial, create_study, run_trial
    from studies.spec import load_spec

    torch.set_num_threads(1)
    out = {}
    for kind in ("lambda", "width"):
        spec = load_spec(_spec("template", kind, n_trials=1, epochs=10, width=32))
        study = create_study(spec, optuna.storages.InMemoryStorage(), study_name=kind)
        trial = ask_trial(study, spec)
        study.tell(trial, run_trial(study, trial, spec, device="cpu"))
        out[kind] = study.trials[0]
    return out


def _copy(template: Any, rng: random.Random, *, running: bool = False) -> Any:
    """A varied copy of ``template``; ``running``: a RUNNING trial part-way through its
    epochs (no values, the first half of the per-epoch history)."""
    import optuna

    params = {}
    for name, dist in template.distributions.items():
        if isinstance(dist, optuna.distributions.FloatDistribution):
            params[name] = 10 ** rng.uniform(*[float(__import__("math").log10(b))
                                                for b in (dist.low, dist.high)])
        else:
            params[name] = rng.randint(dist.low, dist.high)
    attrs = dict(template.user_attrs)
    loss = template.values[0] * rng.uniform(0.5, 3.0)
    size = int(template.values[1] * rng.uniform(0.2, 2.0)) + 1
    attrs.update(val_loss=loss, params=size,
                 final_widths=[max(1, int(w * rng.uniform(0.2, 1.0)))
                               for w in attrs["final_widths"]],
                 history=[{**rec, "val_loss": rec["val_loss"] * rng.uniform(0.8, 1.2)}
                          for rec in attrs["history"]])
    if "lam" in params:
        attrs["lam"] = params["lam"]
    if running:
        history = attrs["history"][: len(attrs["history"]) // 2]
        return optuna.trial.create_trial(
            params=params, distributions=template.distributions,
            user_attrs={"history": history}, state=optuna.trial.TrialState.RUNNING,
        )
    return optuna.trial.create_trial(
        params=params, distributions=template.distributions, values=[loss, float(size)],
        user_attrs=attrs, state=optuna.trial.TrialState.COMPLETE,
    )


def bulk_add(storage: Any, study_name: str, trials: list[Any], rng: random.Random) -> None:
    """Insert trials with Optuna's own table models, one transaction per study.

    ``study.add_trials`` writes every attribute in its own statement (~60 ms a trial here,
    ten minutes for 10,000), so the rows go in with ``executemany`` through the same models.
    """
    from datetime import UTC, datetime, timedelta

    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from sqlalchemy import func, insert, select

    study_id = storage.get_study_id_from_name(study_name)
    rows: dict[Any, list[dict[str, Any]]] = {
        models.TrialModel: [], models.TrialParamModel: [], models.TrialValueModel: [],
        models.TrialUserAttributeModel: []}
    with storage.engine.begin() as conn:
        first = (conn.execute(select(func.max(models.TrialModel.trial_id))).scalar() or 0) + 1
        clock = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=len(trials))
        for number, trial in enumerate(trials):
            tid = first + number
            took = timedelta(seconds=rng.uniform(2, 30))
            rows[models.TrialModel].append({
                "trial_id": tid, "number": number, "study_id": study_id, "state": trial.state,
                "datetime_start": clock,
                "datetime_complete": clock + took if trial.state.is_finished() else None})
            clock += took
            for name, value in trial.params.items():
                dist = trial.distributions[name]
                rows[models.TrialParamModel].append({
                    "trial_id": tid, "param_name": name,
                    "param_value": dist.to_internal_repr(value),
                    "distribution_json": distribution_to_json(dist)})
            for objective, value in enumerate(trial.values or []):
                stored, kind = models.TrialValueModel.value_to_stored_repr(value)
                rows[models.TrialValueModel].append({
                    "trial_id": tid, "objective": objective, "value": stored, "value_type": kind})
            for key, value in trial.user_attrs.items():
                rows[models.TrialUserAttributeModel].append({
                    "trial_id": tid, "key": key, "value_json": json.dumps(value)})
        for model, values in rows.items():
            conn.execute(insert(model.__table__), values)
        if conn.dialect.name == "postgresql":  # explicit ids leave the serial behind
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                                 "(SELECT max(trial_id) FROM trials))")


def build_storage(url: str, *, studies: int, trials: int, seed: int) -> list[str]:
    """Create ``studies`` studies holding ``trials`` trials in all; their public ids."""
    import optuna

    from service.scheduler import create_study_record
    from service.storage import init_schema, make_engine, open_storage, set_study_status

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    templates = _templates()
    storage = open_storage(url, heartbeat_interval=10, grace_period=60)
    engine = make_engine(url)
    init_schema(engine)
    ids = []
    per_study = trials // studies
    for i in range(studies):
        kind = "lambda" if i % 2 == 0 else "width"
        record = create_study_record(
            storage, engine, _spec(f"load {i:02d}", kind, n_trials=per_study, epochs=10,
                                   width=32))
        finished = i < studies * 3 // 4
        running = 0 if finished else RUNNING_PER_STUDY
        bulk_add(storage, record.study_name,
                  [_copy(templates[kind], rng, running=k >= per_study - running)
                   for k in range(per_study)], rng)
        set_study_status(storage, engine, record.id, "finished" if finished else "running")
        ids.append(record.id)
    storage.engine.dispose()
    engine.dispose()
    return ids


# -- the API under load ----------------------------------------------------------------------
def start_api(url: str, data_dir: Path, log: Path, *, processes: int = 1
              ) -> tuple[subprocess.Popen[bytes], str]:
    """The API under uvicorn (``--workers processes``) on a free port; its base URL."""
    from service.cli import free_port

    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log", "--workers", str(processes)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=_env(SHRINKNETS_STORAGE_URL=url, SHRINKNETS_DATA_DIR=str(data_dir)))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API did not start within 120 s")


def _request(rng: random.Random, ids: list[str], per_study: int) -> tuple[str, str]:
    route = rng.choice(ROUTES)
    sid = rng.choice(ids)
    if route == "list":
        return route, f"/api/v1/studies?offset={rng.randrange(0, 20, 5)}&limit=10"
    if route == "study":
        return route, f"/api/v1/studies/{sid}"
    if route == "trials":
        return route, f"/api/v1/studies/{sid}/trials?offset={rng.randrange(0, per_study, 50)}" \
                      "&limit=50"
    return route, f"/api/v1/studies/{sid}/plots/{rng.choice(PLOTS)}"


async def _client(k: int, client: httpx.AsyncClient, ids: list[str], per_study: int,
                  end: float, latencies: dict[str, list[float]], errors: list[str],
                  think_s: float) -> None:
    rng = random.Random(k)
    async with client:
        await asyncio.sleep(rng.uniform(0, think_s))  # users do not all click at once
        while time.monotonic() < end:
            route, path = _request(rng, ids, per_study)
            started = time.perf_counter()
            try:
                response = await client.get(path)
                ok = response.status_code == 200
                problem = f"{response.status_code} {path}: {response.text[:200]}"
            except httpx.HTTPError as e:
                ok, problem = False, f"{type(e).__name__} {path}: {e}"
            latencies[route].append((time.perf_counter() - started) * 1000)
            if not ok:
                errors.append(problem)
            if think_s:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)


def run_load(base: str, ids: list[str], per_study: int, *, clients: int, seconds: float,
             think_s: float = 0.0, warm_up: bool = True
             ) -> tuple[dict[str, list[float]], list[str]]:
    """``clients`` clients for ``seconds``; latencies (ms) by route and the errors."""
    latencies: dict[str, list[float]] = {r: [] for r in ROUTES}
    errors: list[str] = []

    async def main() -> None:
        # One warm-up pass over every study and plot first: the first read of a study fills
        # the process's trial cache and the first plot of a finished study is cached.
        if warm_up:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                for sid in ids:
                    await client.get(f"/api/v1/studies/{sid}")
                    for name in PLOTS:
                        await client.get(f"/api/v1/studies/{sid}/plots/{name}")
        # Every client is made before the clock starts: making one (its TLS context) takes
        # ~10 ms of this loop, which would stall the first requests of the others.
        pool = [httpx.AsyncClient(base_url=base, timeout=60) for _ in range(clients)]
        gc.collect()
        gc.freeze()  # the generator's own collections would stall its clients
        end = time.monotonic() + seconds
        await asyncio.gather(*(_client(k, client, ids, per_study, end, latencies, errors,
                                       think_s) for k, client in enumerate(pool)))

    asyncio.run(main())
    return latencies, errors


_WRK_SCRIPT = """
paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk_capacity(base: str, ids: list[str], per_study: int, *, clients: int, seconds: float,
                 tmp: Path) -> dict[str, Any]:
    """Closed-loop capacity measured by ``wrk`` (C, two threads, ``clients`` connections)
    on the same route mix as the Python clients; requests/s, p50/p99 and non-200 answers.
    Every API process is warmed first (three passes over every study and plot, on fresh
    connections, which the kernel spreads over the processes)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found (Debian: apt-get install wrk): capacity with wrk not measured",
              flush=True)
        return {}
    for _ in range(3):
        for sid in ids:
            httpx.get(f"{base}/api/v1/studies/{sid}", timeout=120)
            for name in PLOTS:
                httpx.get(f"{base}/api/v1/studies/{sid}/plots/{name}", timeout=120)
    rng = random.Random(1)
    paths = [_request(rng, ids, per_study)[1] for _ in range(2000)]
    script = tmp / "mix.lua"
    script.write_text(_WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    out = subprocess.run(
        [wrk, "-t2", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "--timeout", "10s",
         "-s", str(script), base], capture_output=True, text=True, timeout=seconds + 60,
        check=True,
    ).stdout
    print(out, flush=True)

    def latency_ms(label: str) -> float | None:
        found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if found is None:
            return None
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return round(float(found.group(1)) * scale, 1)

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"wrk_rps": round(float(rps.group(1))) if rps else None,
            "wrk_p50_ms": latency_ms("50%"), "wrk_p99_ms": latency_ms("99%"),
            "wrk_errors": int(bad.group(1)) if bad else 0}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- 2 and 3. workers ------------------------------------------------------------------------
def _run_workers(url: str, spec: dict[str, Any], n_workers: int, log_dir: Path,
                 timeout: float) -> list[Any]:
    """Run ``n_workers`` worker processes: first a warm-up study (two trials per worker, so
    every process has paid its imports), then ``spec``; the complete trials of ``spec``."""
    import optuna

    from service.scheduler import create_study_record
    from service.storage import get_study_record, init_schema, make_engine, open_storage

    storage = open_storage(url, heartbeat_interval=10, grace_period=60)
    engine = make_engine(url)
    init_schema(engine)
    warm = dict(spec, name=f"{spec['name']} warm-up",
                search={**spec["search"], "n_trials": 2 * n_workers})
    warm["training"] = {**spec["training"], "epochs": 1}
    procs = []
    for i in range(n_workers):
        with (log_dir / f"worker-{spec['name']}-{i}.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "service.worker", "--storage", url, "--device", "cpu"],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=_env()))
    deadline = time.monotonic() + timeout
    try:
        for one in (warm, spec):
            record = create_study_record(storage, engine, one)
            while get_study_record(engine, record.id).status != "finished":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{n_workers} worker(s) did not finish in {timeout}s")
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"a worker exited; see {log_dir}")
                time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    study = optuna.load_study(study_name=record.study_name, storage=storage)
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def _trials_per_minute(trials: list[Any]) -> float:
    start = min(t.datetime_start for t in trials)
    end = max(t.datetime_complete for t in trials)
    return 60.0 * len(trials) / (end - start).total_seconds()


def _epochs_for(seconds: float, *, width: int, batch: int) -> int:
    """Epochs that make one trial train for about ``seconds`` on this machine right now
    (timed on a 3-epoch trial in this process, one torch thread)."""
    import optuna
    import torch

    from studies.execute import ask_trial, create_study, run_trial
    from studies.spec import load_spec

    torch.set_num_threads(1)
    spec = load_spec(_spec("calibrate", "lambda", n_trials=2, epochs=3, width=width,
                           batch=batch))
    study = create_study(spec, optuna.storages.InMemoryStorage(), study_name="calibrate")
    for _ in range(2):  # the first pays one-off costs
        trial = ask_trial(study, spec)
        study.tell(trial, run_trial(study, trial, spec, device="cpu"))
    per_epoch = float(study.trials[-1].user_attrs["wall_time_s"]) / 3
    return max(3, min(500, round(seconds / per_epoch)))


def worker_numbers(tmp: Path, *, quick: bool) -> dict[str, float]:
    n_tiny = 16 if quick else 40  # ~0.5 s of training each
    rates = {}
    for n_workers in (1, 2):
        url = f"sqlite:///{tmp / f'throughput-{n_workers}.db'}"
        spec = _spec(f"throughput {n_workers}", "lambda", n_trials=n_tiny, epochs=20, width=32)
        trials = _run_workers(url, spec, n_workers, tmp, timeout=600)
        rates[n_workers] = _trials_per_minute(trials)
        print(f"workers={n_workers}: {len(trials)} tiny trials, "
              f"{rates[n_workers]:.1f} trials/min", flush=True)

    n_long = 3 if quick else 5
    url = f"sqlite:///{tmp / 'overhead.db'}"
    epochs = _epochs_for(5.0, width=64, batch=32)
    print(f"overhead trials: {epochs} epochs for ~5 s of training", flush=True)
    spec = _spec("overhead", "lambda", n_trials=n_long, epochs=epochs, width=64, batch=32)
    trials = sorted(_run_workers(url, spec, 1, tmp, timeout=900),
                    key=lambda t: t.datetime_start)
    shares = []
    for i, t in enumerate(trials):
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        train = float(t.user_attrs["wall_time_s"])
        share = 100.0 * (wall - train) / wall
        shares.append(share)
        print(f"overhead trial {i}: {wall:.2f} s claim→told, {train:.2f} s in Trainer.fit, "
              f"{share:.1f} % outside training", flush=True)
    return {
        "trials_per_min_1_worker": round(rates[1], 1),
        "two_worker_speedup": round(rates[2] / rates[1], 2),
        "worker_overhead_pct": round(statistics.mean(shares), 2),
    }


def _report(phase: str, latencies: dict[str, list[float]], errors: list[str],
            seconds: float) -> list[float]:
    for route in ROUTES:
        values = latencies[route]
        print(f"{phase} route {route:7s}: {len(values):6d} requests, p50 "
              f"{_pct(values, 50):7.1f} ms, p99 {_pct(values, 99):7.1f} ms", flush=True)
    every = [v for values in latencies.values() for v in values]
    print(f"{phase} all routes: {len(every)} requests in {seconds:.0f} s "
          f"({len(every) / seconds:.0f}/s), p50 {_pct(every, 50):.1f} ms, p99 "
          f"{_pct(every, 99):.1f} ms, {len(errors)} errors", flush=True)
    for problem in errors[:5]:
        print(f"error: {problem}", flush=True)
    return every


def _train_running(url: str, stop: Any, epochs: Any) -> None:
    """Append an epoch to the history of every RUNNING trial every ``EPOCH_EVERY_S``
    seconds (what workers write while they train) until ``stop`` is set. Runs in its own
    process, so its writes do not take the load generator's time."""
    import optuna

    from service.storage import open_storage

    storage = open_storage(url, heartbeat_interval=10, grace_period=60)
    running = [t for s in storage.get_all_studies()
               for t in storage.get_all_trials(s._study_id,
                                               states=(optuna.trial.TrialState.RUNNING,))]
    histories = {t._trial_id: list(t.user_attrs["history"]) for t in running}
    pause = EPOCH_EVERY_S / max(1, len(histories))
    while not stop.is_set():
        for trial_id, history in histories.items():
            if stop.wait(pause):
                break
            history.append({**history[-1], "epoch": history[-1]["epoch"] + 1})
            storage.set_trial_user_attr(trial_id, "history", history)
            with epochs.get_lock():
                epochs.value += 1
    storage.engine.dispose()


def api_numbers(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Build the storage, start the API, run both phases; p50/p99 of the users phase over
    all routes (and of its study and trials-page routes), errors, saturation numbers."""
    url = f"sqlite:///{tmp / 'load.db'}"
    started = time.monotonic()
    ids = build_storage(url, studies=args.studies, trials=args.trials, seed=args.seed)
    print(f"storage built in {time.monotonic() - started:.1f} s", flush=True)
    per_study = args.trials // args.studies
    proc, base = start_api(url, tmp / "var", tmp / "api.log")
    capacity: dict[str, Any] = {}
    spawn = multiprocessing.get_context("spawn")
    stop, epochs = spawn.Event(), spawn.Value("i", 0)
    training = spawn.Process(target=_train_running, args=(url, stop, epochs), daemon=True)
    if not args.no_training:
        training.start()
    try:
        users, errors = run_load(base, ids, per_study, clients=args.clients,
                                 seconds=args.seconds, think_s=args.think_ms / 1000)
        saturated: dict[str, list[float]] = {r: [] for r in ROUTES}
        if args.saturation_seconds > 0:
            saturated, more = run_load(base, ids, per_study, clients=args.clients,
                                       seconds=args.saturation_seconds, warm_up=False)
            errors += more
            proc.terminate()
            proc.wait(timeout=30)
            proc, base = start_api(url, tmp / "var", tmp / "api2.log", processes=2)
            capacity = wrk_capacity(base, ids, per_study, clients=args.clients,
                                    seconds=args.saturation_seconds, tmp=tmp)
    finally:
        stop.set()
        if training.is_alive():
            training.join(timeout=30)
        proc.terminate()
        proc.wait(timeout=30)
    print(f"running trials reported {epochs.value} new epochs during the load", flush=True)
    every = _report(f"users (think {args.think_ms:.0f} ms)", users, errors, args.seconds)
    result: dict[str, Any] = {
        "p50_ms": round(_pct(every, 50), 1), "p99_ms": round(_pct(every, 99), 1),
        "errors": len(errors),
        "study_p99_ms": round(_pct(users["study"], 99), 1),
        "trials_page_p99_ms": round(_pct(users["trials"], 99), 1),
        "max_route_p99_ms": round(max(_pct(users[r], 99) for r in ROUTES), 1),
        **capacity,
    }
    if args.saturation_seconds > 0:
        flat = _report("saturation (closed loop)", saturated, [], args.saturation_seconds)
        result.update(saturation_rps=round(len(flat) / args.saturation_seconds),
                      saturation_p99_ms=round(_pct(flat, 99), 1))
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(f"config: {args.studies} studies, {args.trials} trials, {args.clients} clients for "
          f"{args.seconds:.0f} s (think time {args.think_ms:.0f} ms) and "
          f"{args.saturation_seconds:.0f} s (closed loop), cpus={os.cpu_count()}, "
          f"load avg={os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="snk-load-") as tmpdir:
        tmp = Path(tmpdir)
        result: dict[str, Any] = {"p50_ms": None, "p99_ms": None, "errors": None}
        if not args.skip_load:
            result.update(api_numbers(args, tmp))
        if args.skip_workers:
            result.update(trials_per_min_1_worker=None, two_worker_speedup=None,
                          worker_overhead_pct=None)
        else:
            result.update(worker_numbers(tmp, quick=args.quick))
    first = ("p50_ms", "p99_ms", "errors", "trials_per_min_1_worker", "two_worker_speedup",
             "worker_overhead_pct")
    print(json.dumps({**{k: result[k] for k in first}, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
