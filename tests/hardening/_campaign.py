"""The kill -9 campaign: workers are killed at chosen points of their trials and replaced.

Each time a worker starts a trial (its log says ``study S trial N: start``) the campaign
may pick a target point for it, the one of these with the fewest kills so far:

* ``early``  — after the claim, before the first epoch is recorded;
* ``epoch``  — right after epoch k (1 ≤ k < epochs) was recorded, i.e. while epoch k+1
  trains (λ trials physically remove dead neurons every 2 steps, so these kills land
  among removals);
* ``report`` — after the last epoch, while the results are written and told.

It polls the trial's ``history`` attribute every few milliseconds and sends SIGKILL
the moment the trial reaches the point, then forks a replacement worker. A target that
the trial passes unseen is simply dropped (the next trial gets one).
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _hardening import ForkServer, Proc, inspect_engine, running_histories, study_statuses

__all__ = ["Campaign", "Kill"]

_START = re.compile(r"study (\S+) trial (\d+): start")
_END = re.compile(r"study (\S+) trial (\d+): (complete|dropped|cancelled|worker stopped)")
PHASES = ("early", "epoch", "report")


@dataclass
class Kill:
    phase: str
    study_name: str
    number: int
    epochs_done: int


@dataclass
class _Running:
    study_name: str
    number: int
    started: float
    phase: str | None
    at_epoch: int = 0
    delay: float = 0.0
    first_history: str | None = None
    seen: bool = False


@dataclass
class Campaign:
    """Kill workers of ``study_names`` until ``kills`` were done (or the deadline).

    Args:
        fork: Forks the replacement workers.
        url: Storage URL of the workers.
        log_dir: Where worker logs go.
        study_names: The Optuna names of the studies under fire.
        epochs: Epochs per trial of those studies.
        max_kills_per_study: Keep each study under the service's failure cap.
    """

    fork: ForkServer
    url: str
    log_dir: Path
    study_names: list[str]
    epochs: int
    max_kills_per_study: int
    seed: int = 0
    kills: list[Kill] = field(default_factory=list)
    spawned: int = 0

    def _spawn(self) -> Proc:
        self.spawned += 1
        return self.fork.worker(self.url, self.log_dir / f"worker-{self.spawned:03d}.log")

    def run(self, *, workers: int, kills: int, timeout: float) -> None:
        """Run until every study is finished; kill until ``kills`` kills were made.

        Raises:
            AssertionError: a study settled otherwise, or ``timeout`` seconds passed (the
                message holds every study's status, so a failure says what it waited on).
        """
        rng = random.Random(self.seed)
        phases = itertools.cycle(PHASES)
        engine = inspect_engine(self.url)
        procs = [self._spawn() for _ in range(workers)]
        running: dict[int, _Running] = {}
        per_study: Counter[str] = Counter()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for proc in procs:
                    self._read_log(proc, running, rng, phases, per_study, kills)
                histories = running_histories(engine) if running else {}
                for proc in list(procs):
                    job = running.get(proc.pid)
                    if job is None or job.phase is None:
                        continue
                    done = self._epochs_done(job, histories)
                    if done is None or not self._due(job, done):
                        continue
                    proc.kill()
                    self.kills.append(Kill(job.phase, job.study_name, job.number, done))
                    per_study[job.study_name] += 1
                    running.pop(proc.pid)
                    procs.remove(proc)
                    procs.append(self._spawn())
                statuses = study_statuses(engine)
                mine = {n: statuses.get(n, ("missing", None)) for n in self.study_names}
                if all(status == "finished" for status, _ in mine.values()):
                    return
                if any(status in ("failed", "cancelled") for status, _ in mine.values()):
                    raise AssertionError(f"a study settled without finishing: {mine}")
                time.sleep(0.005)
            raise AssertionError(
                f"studies not finished after {timeout:.0f} s with {len(self.kills)} kills: "
                f"{study_statuses(engine)}")
        finally:
            for proc in procs:
                proc.terminate(timeout=10)
            engine.dispose()

    def _read_log(self, proc: Proc, running: dict[int, _Running], rng: random.Random,
                  phases: itertools.cycle[str], per_study: Counter[str], kills: int) -> None:
        for line in proc.new_lines():
            if m := _START.search(line):
                name, number = m.group(1), int(m.group(2))
                phase = None
                if (len(self.kills) < kills and name in self.study_names
                        and per_study[name] < self.max_kills_per_study):
                    # the phase killed least so far (a missed target is tried again)
                    done = Counter(k.phase for k in self.kills)
                    phase = min((next(phases) for _ in PHASES), key=lambda p: done[p])
                running[proc.pid] = _Running(
                    name, number, time.monotonic(), phase,
                    at_epoch=rng.randint(1, max(1, self.epochs - 1)),
                    delay=rng.uniform(0.0, 0.15),
                )
            elif _END.search(line):
                running.pop(proc.pid, None)

    @staticmethod
    def _epochs_done(job: _Running, histories: dict[tuple[str, int], str | None]) -> int | None:
        key = (job.study_name, job.number)
        if key not in histories:
            return None  # not RUNNING (anymore): the target was missed
        history = histories[key]
        if not job.seen:  # a retry starts with its failed attempt's history: ignore that one
            job.seen, job.first_history = True, history
        if history is None or history == job.first_history:
            return 0
        return history.count('"epoch"')

    def _due(self, job: _Running, done: int) -> bool:
        if job.phase == "early":
            return done == 0 and time.monotonic() - job.started >= job.delay
        if job.phase == "epoch":
            return job.at_epoch <= done < self.epochs
        return done >= self.epochs
