"""Benchmark (not a test): how many trial claims per second one study sustains.

K claimer **processes** (as K machines would be) run the real worker loop
(``service.worker.Worker``: ``runnable_study_records``, ``claim_trial``, ``finish_trial``,
its heartbeat thread) on one study of a real spec: width search on digits, two
objectives, multi-objective TPE (the spec's default sampler). Only the training is
replaced (``Worker(run_trial=…)``): a "trial" samples its parameters with the study's
search space (``studies._search_space.suggest``, as a real trial does), sleeps
``--trial-ms`` (default 100 ms) and reports two objective values. No claimer imports torch
(checked: a claimer that did fails the run).

Per run the claimers wait at a start line (their imports and connections are not timed),
then serve the study until it is finished, i.e. until its budget of ``B`` new trials is
told. Each claimer times, by wrapping the functions (instrumentation only): the claim
(``claim_trial`` call → trial RUNNING, or None), the time it waited for the study's lock
and the time it held it (``db_lock`` of the claim), and the trial's sampling (``suggest``).
Claims per second are ``B`` ÷ (last trial told − first trial started), from the trials'
own timestamps; CPU time is all claimers' user + system time (``RUSAGE_CHILDREN``).

Checks per run, read from the database afterwards: the new trials that count against the
budget (WAITING + RUNNING + COMPLETE + PRUNED) are exactly ``B`` (``budget_exact``), no
trial number twice in the study (``duplicates``), none left RUNNING or WAITING, and the
claimers logged no error (``errors``; ``sqlite_locked_errors`` counts "database is
locked" among them).

Beside it, the anchor on the same database server: plain Optuna. K processes each run
``study.optimize`` (``n_trials = B / K``) with the same sleeping objective, the same
sampler (``TPESampler(multivariate=True)``) on a study holding the same existing trials;
trials per second the same way, ``ask`` and sampling latency. Plain Optuna has no shared
budget, no heartbeats, no retries: it is the floor of what an RDB-backed Optuna study
costs, not an equivalent.

Studies of 0, 1,000 and 10,000 existing COMPLETE trials (with per-epoch histories like a
real trial's), bulk-inserted through Optuna's table models (``bench/service_load.py``).
PostgreSQL (``--pg-url``, a database ``snk_claim_bench_<pid>`` created and dropped per run) with
K ∈ {1, 8, 32, 64}; SQLite (a temporary file) with K ∈ {1, 4, 8}. ``--quick``: K up to
16 and studies of 0 and 1,000 trials (under 3 minutes). The last line is JSON: at least
``claim_p99_ms`` and ``claims_vs_optuna`` (PostgreSQL, largest K, largest study: our
claims/s ÷ plain Optuna's trials/s), ``budget_exact``, ``duplicates``, ``errors`` and
``sqlite_locked_errors``.

Usage: ``python bench/claim_load.py [--quick] [--backends postgresql,sqlite] [--ks 1,8]
[--sizes 0,1000] [--trial-ms 100] [--per-claimer 8] [--pg-url URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "snk_claim_bench"
MAX_WIDTH = 256
DEPTH = 2
RUN_TIMEOUT_S = 600.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="K up to 16, studies of 0 and 1k")
    p.add_argument("--backends", default="postgresql,sqlite")
    p.add_argument("--ks", default=None, help="claimer counts (default per backend)")
    p.add_argument("--sizes", default=None, help="existing trials (default 0,1000,10000)")
    p.add_argument("--trial-ms", type=float, default=100.0)
    p.add_argument("--per-claimer", type=int, default=8, help="new trials per claimer")
    p.add_argument("--min-budget", type=int, default=64, help="new trials per run, at least")
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--arms", default="service,optuna")
    # internal: one claimer process
    p.add_argument("--claimer", choices=("service", "optuna"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--study", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--go", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _spec(n_trials: int) -> dict[str, Any]:
    return {
        "name": "claim load", "dataset": {"name": "digits"},
        "architecture": {"kind": "mlp", "depth": DEPTH, "max_width": MAX_WIDTH},
        "training": {"epochs": 15, "finetune_epochs": 2, "device": "cpu"},
        "search": {"kind": "width", "n_trials": n_trials, "seed": 0,
                   "objectives": ["val_loss", "params"]},
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000, 2)


# -- the claimer processes ------------------------------------------------------------------
class _Errors(logging.Handler):
    """Counts the log records of ERROR and above (the worker logs every failed step)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.locked = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.count += 1
        self.locked += "database is locked" in text
        self.first = self.first or text[:500]


def _wait_for(go: str) -> None:
    Path(go + f".ready.{os.getpid()}").touch()
    while not Path(go).exists():
        time.sleep(0.02)


def _values(widths: tuple[int, ...], rng: random.Random) -> list[float]:
    params = 64 * widths[0] + sum(a * b for a, b in itertools.pairwise(widths)) + widths[-1] * 10
    return [rng.uniform(0.05, 1.0) + 5.0 / (1 + sum(widths)), float(params)]


def service_claimer(args: argparse.Namespace) -> None:
    """One worker process of the service, trials replaced by a sleep."""
    os.environ.update(SHRINKNETS_STORAGE_URL=args.url, SHRINKNETS_WORKER_POLL_S="0.02",
                      SHRINKNETS_KEEP_MODELS="none", SHRINKNETS_LOG_LEVEL="warning")
    import service.scheduler._claim as claim_module
    import service.worker._loop as loop_module
    from service.settings import Settings
    from service.storage import study_status
    from studies._search_space import suggest

    errors = _Errors()
    logging.getLogger().addHandler(errors)
    stats: dict[str, list[float]] = {"claim": [], "empty": [], "wait": [], "hold": [],
                                     "sample": []}
    in_claim = threading.local()
    real_lock, real_claim = claim_module.db_lock, loop_module.claim_trial
    rng = random.Random(args.seed)

    @contextlib.contextmanager
    def timed_lock(engine: Any, *, key: int) -> Any:
        asked = time.perf_counter()
        with real_lock(engine, key=key):
            held = time.perf_counter()
            try:
                yield
            finally:
                if getattr(in_claim, "on", False):
                    stats["wait"].append(held - asked)
                    stats["hold"].append(time.perf_counter() - held)

    def timed_claim(storage: Any, engine: Any, record: Any) -> Any:
        in_claim.on = True
        started = time.perf_counter()
        try:
            trial = real_claim(storage, engine, record)
        finally:
            in_claim.on = False
        stats["claim" if trial is not None else "empty"].append(time.perf_counter() - started)
        return trial

    def sleeping_trial(study: Any, trial: Any, spec: Any, **_: Any) -> list[float]:
        started = time.perf_counter()
        plan = suggest(trial, spec)
        stats["sample"].append(time.perf_counter() - started)
        time.sleep(args.trial_ms / 1000)
        return _values(plan.widths, rng)

    claim_module.db_lock = timed_lock  # type: ignore[assignment]
    loop_module.claim_trial = timed_claim  # type: ignore[assignment]
    stop = threading.Event()
    worker = loop_module.Worker(Settings(), device="cpu", stop_event=stop,
                                run_trial=sleeping_trial)

    def watch() -> None:
        while not stop.wait(0.5):
            with contextlib.suppress(Exception):
                if study_status(worker.engine, args.study) in (None, "finished", "cancelled"):
                    stop.set()

    _wait_for(args.go)
    threading.Thread(target=watch, daemon=True).start()
    worker.run()
    Path(args.out).write_text(json.dumps({
        **stats, "errors": errors.count, "locked": errors.locked, "first_error": errors.first,
        "torch": "torch" in sys.modules, "trials": worker.trials_run}))


def optuna_claimer(args: argparse.Namespace) -> None:
    """One plain-Optuna process: ``study.optimize`` of a sleeping objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    stats: dict[str, list[float]] = {"ask": [], "sample": []}
    rng = random.Random(args.seed)
    study = optuna.load_study(
        study_name=args.study, storage=args.url,
        sampler=optuna.samplers.TPESampler(seed=args.seed, multivariate=True))
    real_ask = study.ask

    def timed_ask(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        trial = real_ask(*a, **kw)
        stats["ask"].append(time.perf_counter() - started)
        return trial

    def objective(trial: optuna.Trial) -> list[float]:
        started = time.perf_counter()
        widths = tuple(trial.suggest_int(f"width_{i + 1}", 1, MAX_WIDTH, log=True)
                       for i in range(DEPTH))
        stats["sample"].append(time.perf_counter() - started)
        time.sleep(args.trial_ms / 1000)
        return _values(widths, rng)

    study.ask = timed_ask  # type: ignore[method-assign]
    _wait_for(args.go)
    failed = 0
    try:
        study.optimize(objective, n_trials=args.n)
    except Exception as e:  # a storage error ends plain Optuna's loop
        failed, errors.first = 1, repr(e)[:500]
        errors.locked += "database is locked" in repr(e)
    Path(args.out).write_text(json.dumps({
        **stats, "errors": errors.count + failed, "locked": errors.locked,
        "first_error": errors.first, "torch": "torch" in sys.modules}))


# -- one run -------------------------------------------------------------------------------
def _history(rng: random.Random, widths: list[int]) -> list[dict[str, Any]]:
    return [{"epoch": e, "val_loss": rng.uniform(0.1, 2.0), "val_accuracy": rng.random(),
             "train_loss": rng.uniform(0.1, 2.0), "widths": widths, "params": 1000,
             "macs_per_sample": 1000, "wall_time_s": 0.01, "cost_macs": 1e6 * e}
            for e in range(1, 18)]


def _existing(size: int, seed: int) -> list[Any]:
    """``size`` COMPLETE width-search trials, attributes shaped like a real trial's."""
    import optuna

    rng = random.Random(seed)
    dist = optuna.distributions.IntDistribution(1, MAX_WIDTH, log=True)
    out = []
    for _ in range(size):
        widths = [int(math.exp(rng.uniform(0, math.log(MAX_WIDTH)))) for _ in range(DEPTH)]
        values = _values(tuple(widths), rng)
        out.append(optuna.trial.create_trial(
            params={f"width_{i + 1}": w for i, w in enumerate(widths)},
            distributions={f"width_{i + 1}": dist for i in range(DEPTH)}, values=values,
            user_attrs={"history": _history(rng, widths), "final_widths": widths,
                        "params": int(values[1]), "val_loss": values[0],
                        "search_cost_macs": 1.7e7, "wall_time_s": 0.2},
            state=optuna.trial.TrialState.COMPLETE))
    return out


@contextlib.contextmanager
def _database(backend: str, pg_url: str) -> Any:
    """A fresh, empty database URL for one run, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="claim-load-") as tmp:
            yield f"sqlite:///{tmp}/claims.db"
        return
    import sqlalchemy

    from service.storage import normalise_url

    name = f"{BENCH_DB}_{os.getpid()}"
    admin = sqlalchemy.create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield str(sqlalchemy.make_url(normalise_url(pg_url)).set(database=name)
                  .render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _prepare(arm: str, url: str, size: int, budget: int) -> tuple[str, str]:
    """The study claimed from: (the id the claimers watch, its Optuna name)."""
    import optuna
    from service_load import bulk_add

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if arm == "service":
        from service.scheduler import create_study_record
        from service.storage import init_schema, make_engine, open_storage

        storage = open_storage(url, heartbeat_interval=10, grace_period=60)
        engine = make_engine(url)
        init_schema(engine)
        record = create_study_record(storage, engine, _spec(size + budget))
        key, name = record.id, record.study_name
    else:
        storage = optuna.storages.RDBStorage(url)
        name = key = "plain-optuna"
        optuna.create_study(study_name=name, storage=storage, directions=["minimize"] * 2)
    if size:
        bulk_add(storage, name, _existing(size, seed=size), random.Random(size))
    storage.engine.dispose()
    return key, name


def _spawn(arm: str, url: str, key: str, k: int, n_each: int, trial_ms: float,
           tmp: Path) -> tuple[list[dict[str, Any]], float]:
    """Start ``k`` claimers, release them together, wait; their results and CPU seconds."""
    go = str(tmp / "go")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = []
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for i in range(k):
        cmd = [sys.executable, __file__, "--claimer", arm, "--url", url, "--study", key,
               "--out", str(tmp / f"out{i}.json"), "--go", go, "--n", str(n_each),
               "--seed", str(i + 1), "--trial-ms", str(trial_ms)]
        with open(tmp / f"err{i}.log", "wb") as err:
            procs.append(subprocess.Popen(cmd, env=env, stderr=err))
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(list(tmp.glob("go.ready.*"))) < k and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    Path(go).touch()
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    results = []
    for i in range(k):
        out = tmp / f"out{i}.json"
        if out.exists():
            results.append(json.loads(out.read_text()))
        else:
            err = (tmp / f"err{i}.log").read_text(errors="replace")[-800:]
            results.append({"errors": 1, "locked": "database is locked" in err,
                            "first_error": f"claimer {i} ended without a result: {err}"})
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return results, cpu


def _checks(url: str, name: str, size: int) -> dict[str, Any]:
    """What the database holds after a run: new trials per state, throughput, duplicates."""
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    new = [t for t in trials if t.number >= size]
    states = {s.name: sum(t.state == s for t in new) for s in TrialState}
    starts = [t.datetime_start for t in new if t.datetime_start]
    ends = [t.datetime_complete for t in new if t.datetime_complete]
    window = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    storage.engine.dispose()
    return {"states": {k: v for k, v in states.items() if v},
            "duplicates": len(numbers) - len(set(numbers)),
            "told": states["COMPLETE"] + states["PRUNED"], "window_s": window,
            "counted": sum(states[s] for s in ("WAITING", "RUNNING", "COMPLETE", "PRUNED")),
            "left_running": states["RUNNING"] + states["WAITING"]}


def run_one(arm: str, backend: str, size: int, k: int, args: argparse.Namespace
            ) -> dict[str, Any]:
    """One arm at one (backend, study size, K): its line of the output."""
    budget = max(args.min_budget, k * args.per_claimer)
    budget = math.ceil(budget / k) * k  # plain Optuna: n_trials per process
    with _database(backend, args.pg_url) as url, tempfile.TemporaryDirectory() as tmp:
        key, name = _prepare(arm, url, size, budget)
        results, cpu = _spawn(arm, url, key, k, budget // k, args.trial_ms, Path(tmp))
        checks = _checks(url, name, size)

    def joined(field: str) -> list[float]:
        return [x for r in results for x in r.get(field, [])]

    rate = checks["told"] / checks["window_s"] if checks["window_s"] > 0 else 0.0
    line: dict[str, Any] = {
        "arm": arm, "backend": backend, "existing_trials": size, "claimers": k,
        "budget": budget, "trials_per_s": round(rate, 2), "window_s": round(checks["window_s"], 2),
        "cpu_s": round(cpu, 1), "states": checks["states"], "duplicates": checks["duplicates"],
        "left_running": checks["left_running"],
        "errors": sum(r.get("errors", 0) for r in results),
        "locked_errors": sum(int(r.get("locked", 0)) for r in results),
        "torch_imported": any(r.get("torch") for r in results),
        "sample_p50_ms": _pct(joined("sample"), 0.5), "sample_p99_ms": _pct(joined("sample"), 0.99),
    }
    if arm == "service":
        line.update(
            budget_exact=checks["counted"] == budget and checks["left_running"] == 0,
            claim_p50_ms=_pct(joined("claim"), 0.5), claim_p99_ms=_pct(joined("claim"), 0.99),
            lock_wait_p50_ms=_pct(joined("wait"), 0.5), lock_wait_p99_ms=_pct(joined("wait"), 0.99),
            lock_hold_p50_ms=_pct(joined("hold"), 0.5), lock_hold_p99_ms=_pct(joined("hold"), 0.99),
            empty_claims=len(joined("empty")))
    else:
        line.update(ask_p50_ms=_pct(joined("ask"), 0.5), ask_p99_ms=_pct(joined("ask"), 0.99))
    first = next((r["first_error"] for r in results if r.get("first_error")), None)
    if first:
        line["first_error"] = first
    return line


def _summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    ours = [x for x in lines if x["arm"] == "service"]
    pg = [x for x in ours if x["backend"] == "postgresql"]
    out: dict[str, Any] = {
        "budget_exact": all(x["budget_exact"] for x in ours),
        "duplicates": sum(x["duplicates"] for x in ours),
        "errors": sum(x["errors"] for x in ours),
        "sqlite_locked_errors": sum(x["locked_errors"] for x in ours if x["backend"] == "sqlite"),
        "torch_imported": any(x["torch_imported"] for x in lines),
        "optuna_duplicates": sum(x["duplicates"] for x in lines if x["arm"] == "optuna"),
        "optuna_errors": sum(x["errors"] for x in lines if x["arm"] == "optuna"),
    }
    if pg:
        top = max(pg, key=lambda x: (x["existing_trials"], x["claimers"]))
        anchor = next((x for x in lines if x["arm"] == "optuna" and x["backend"] == "postgresql"
                       and x["existing_trials"] == top["existing_trials"]
                       and x["claimers"] == top["claimers"]), None)
        out.update(at={"existing_trials": top["existing_trials"], "claimers": top["claimers"]},
                   claim_p99_ms=top["claim_p99_ms"], claims_per_s=top["trials_per_s"])
        if anchor and anchor["trials_per_s"]:
            out.update(optuna_trials_per_s=anchor["trials_per_s"],
                       claims_vs_optuna=round(top["trials_per_s"] / anchor["trials_per_s"], 2))
    return out


#: PostgreSQL connections one claimer process may hold (measured: 4.6 on average with
#: K = 8; the service's pool, Optuna's, the heartbeat thread's).
CONNECTIONS_PER_WORKER = 5


def _check_connections(args: argparse.Namespace) -> None:
    """Say on a comment line whether the server admits the largest K (else claimers fail
    to connect: "too many clients")."""
    import sqlalchemy

    from service.storage import normalise_url

    engine = sqlalchemy.create_engine(normalise_url(args.pg_url))
    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
    engine.dispose()
    top = max(_ks(args, "postgresql"))
    need = CONNECTIONS_PER_WORKER * top + 10
    verdict = "enough" if limit >= need else (
        "too few: raise it (ALTER SYSTEM SET max_connections = ...; restart) or use PgBouncer")
    print(f"# PostgreSQL max_connections {limit}; {top} claimers need about {need}: {verdict}",
          flush=True)


def _ks(args: argparse.Namespace, backend: str) -> list[int]:
    """The claimer counts run on ``backend``: ``--ks``, else its default (module docstring)."""
    default = ({"postgresql": "1,4,16", "sqlite": "1,4,8"} if args.quick
               else {"postgresql": "1,8,32,64", "sqlite": "1,4,8"})[backend]
    return [int(k) for k in (args.ks or default).split(",")]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.claimer:
        (service_claimer if args.claimer == "service" else optuna_claimer)(args)
        return 0
    default_sizes = "0,1000" if args.quick else "0,1000,10000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    print(f"# claim_load {time.strftime('%Y-%m-%d %H:%M')} load average "
          f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    if "postgresql" in args.backends:
        _check_connections(args)
    lines = []
    for backend in args.backends.split(","):
        for size in sizes:
            for k in _ks(args, backend):
                for arm in args.arms.split(","):
                    line = run_one(arm, backend, size, k, args)
                    lines.append(line)
                    print(json.dumps(line), flush=True)
    print(json.dumps(_summary(lines)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
