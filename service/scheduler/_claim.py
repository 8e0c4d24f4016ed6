"""Atomic trial claims: the exact budget across processes and machines.

Every step that decides how many trials a study has — counting, starting a trial (a
retry or a new one), failing stale trials and enqueueing their retries, closing the
study — runs under one lock per study:

* PostgreSQL: ``pg_advisory_xact_lock(NAMESPACE, key)`` held by a transaction of our
  own engine while Optuna's connections do the work (workers on any machine);
* SQLite: an inter-process file lock ``<db file>.lock`` next to the database. A second
  SQLite write transaction would deadlock with Optuna's own, so the lock is outside
  the database.

Budget rule. ``WAITING + RUNNING + COMPLETE + PRUNED`` trials count against
``n_trials``; ``FAIL`` trials do not, so a crashed trial is replaced. A trial whose
heartbeat stopped is failed (``optuna.storages.fail_stale_trials``) and Optuna's
``RetryHeartbeatStaleTrialCallback`` enqueues a WAITING copy with the same parameters, so
the count stays the same; ``study.ask()`` pops WAITING trials before sampling new
ones, so retries run first. A trial stopped by SIGTERM is failed and re-enqueued the
same way; a trial that raised is failed without a copy (the next claim samples
anew). ``tell`` runs outside the lock: Optuna changes a trial's state in one row-locked
statement, so a slow worker whose trial was failed meanwhile cannot add an extra trial
(its tell is refused and the retry counts instead).

What holds the lock is a handful of indexed statements, independent of the study's size:
the claim reserves the trial (``_reserve``, instead of ``study.ask()``, which reads every
trial to find retries) and records its heartbeat; building the ``Trial`` and sampling its
parameters (TPE reads every finished trial) happen after the lock is released, in
parallel across workers (``bench/claim_load.py`` measures it).

A λ search with a shared warm start (``search.warm_start``) starts one trial first: no
other trial starts while it runs and the study has no warm-up stored (it trains the
warm-up, ``studies._warm_start``).

Compute budgets (``search.max_macs`` / ``search.max_seconds``, ``studies.budget``). Under
the same lock, a claim first adds up what the study has spent — complete, pruned and
failed trials in full, RUNNING trials the epochs they have reported so far — and starts
no trial (not even a WAITING retry) once ``studies.budget.exhausted`` says the budget is
spent. Trials already running finish, so the search overshoots by at most what they
spend after that moment (``Progress.overshoot_macs``). The study is ``finished`` as soon
as no trial is RUNNING any more; WAITING retries left then are failed with
``failure_reason`` ``"not retried: compute budget spent …"``. A retry trains from
scratch, costing as much as a new trial, so running it would break "no trial starts once
the budget is spent" by a whole trial per retry rather than by the running trials' rest;
failing it (instead of leaving it WAITING) leaves a finished study whose every trial is
finished, as readers and caches expect. While budget is left, retries still run first.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.storage import (
    RUNNABLE_STATUSES,
    StudyRecord,
    compute_limits,
    db_lock,
    last_failure,
    retry_callback,
    set_study_status,
    study_spending,
    study_status,
    trial_state_counts,
    waiting_trial_ids,
)
from service.storage._optuna_private import (
    CachedStorage,
    new_trial_id,
    optuna_models,
    stale_trial_ids,
    study_id_of,
    trial_id_of,
    trial_object,
)
from studies.sampling import make_sampler, open_study
from studies.spec import WARM_START_ATTR, StudySpec

# ``studies.budget`` loads torch: imported where used, so the API process (which creates
# studies through this package) and processes that only claim trials start without it.

__all__ = [
    "MAX_EXTRA_FAILURES",
    "claim_trial",
    "fail_trial",
    "finish_trial",
    "reap_stale_trials",
]

_log = logging.getLogger(__name__)

#: A study stops (finished, or failed without a complete trial; with ``error``) after
#: ``n_trials + MAX_EXTRA_FAILURES`` failures.
MAX_EXTRA_FAILURES = 5
_HEARTBEAT_LOST = "heartbeat lost: its worker stopped reporting for longer than the grace period"
_NEVER_STARTED = "heartbeat lost: its claim broke off before the first heartbeat (database away)"


#: The trial caches of the studies this process claimed from lately, most recent last.
_CACHES: OrderedDict[tuple[int, str], CachedStorage] = OrderedDict()
_CACHES_MAX = 8
_CACHES_LOCK = threading.Lock()


def _study(storage: optuna.storages.RDBStorage, record: StudyRecord) -> optuna.Study | None:
    """The study with the sampler and pruner of its spec (None when deleted meanwhile).

    A new ``Study`` per claim (its sampler is reseeded for that trial), on a trial cache
    kept across claims (Optuna's ``_CachedStorage``, for the last ``_CACHES_MAX`` studies):
    as within ``study.optimize``, each read fetches only the trials that are new or
    unfinished since the last one, so sampling a trial (TPE reads every finished trial)
    does not rebuild the whole study each time. Finished trials do not change, and study
    attributes are not cached.
    """
    key = (id(storage), record.study_name)
    with _CACHES_LOCK:
        cache = _CACHES.pop(key, None) or CachedStorage(storage)
        _CACHES[key] = cache
        while len(_CACHES) > _CACHES_MAX:
            _CACHES.popitem(last=False)
    try:
        return open_study(record.study_name, cache, spec=record.study_spec)
    except KeyError:
        return None


def _reseed(study: optuna.Study, spec: StudySpec, number: int) -> None:
    """Give the sampler a seed derived from the spec's seed and the trial number.

    Every worker process loads the study with the spec's seed; without this, each
    process's first random (start-up) sample would be identical. Optuna samples a
    trial's parameters lazily (at ``suggest_*``), so reseeding after ``ask`` applies.
    """
    study.sampler = make_sampler(spec, seed=(spec.search.seed * 100_003 + number) % (2**31 - 1))


def _awaits_warm_start(
    study: optuna.Study, spec: StudySpec, counts: dict[TrialState, int]
) -> bool:
    """True while a λ search with a shared warm start has a trial running and no warm-up
    stored: that trial trains it (``studies._warm_start``), so no other trial starts
    (its worker goes on with other studies); if it dies, its retry trains it."""
    if spec.search.kind != "lambda" or not spec.search.warm_start.enabled:
        return False
    return counts[TrialState.RUNNING] > 0 and not study.user_attrs.get(WARM_START_ATTR)


def _stale_reasons(storage: optuna.storages.RDBStorage, study_id: int) -> dict[int, str]:
    """The RUNNING trials to fail as stale, each with its ``failure_reason``: without a
    recent heartbeat, or without any (their claim broke off)."""
    reasons = {i: _NEVER_STARTED for i in _without_heartbeat(storage, study_id)}
    reasons.update((i, _HEARTBEAT_LOST) for i in stale_trial_ids(storage, study_id))
    return reasons


def _fail_stale(
    study: optuna.Study, storage: optuna.storages.RDBStorage, *, retry: bool = True
) -> None:
    """Fail RUNNING trials without a recent heartbeat (``failure_reason`` says so);
    ``retry`` runs the storage's stale-trial callback (it enqueues their copies).

    What ``optuna.storages.fail_stale_trials`` does, with the reason written first and
    for exactly the trials that are then failed (calling it after reading the stale ids
    could fail a trial that went stale in between, without a reason).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = storage.get_heartbeat_stale_trial_callback() if retry else None
        for trial_id, reason in _stale_reasons(storage, study_id_of(study)).items():
            try:
                storage.set_trial_user_attr(trial_id, "failure_reason", reason)
                failed = storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another process failed it first
            if failed and callback is not None:
                callback(study, storage.get_trial(trial_id))


def _without_heartbeat(storage: optuna.storages.RDBStorage, study_id: int) -> list[int]:
    """RUNNING trials that never got a heartbeat: their claim broke off (the database went
    away between the reservation and the first heartbeat). A claim records the heartbeat
    before it releases the study's lock, and trials are failed only from a read under that
    lock, so no healthy trial is failed (a read without the lock, as a claim makes first,
    may see a claim in progress: it only decides whether to read again under the lock).
    Optuna's own stale check skips trials without a heartbeat, which would leave these
    RUNNING, holding the budget, forever. (Optuna's private table models: no public call
    lists trials without a heartbeat.)"""
    trial, beat = optuna_models.TrialModel, optuna_models.TrialHeartbeatModel
    query = (
        select(trial.trial_id)
        .outerjoin(beat, beat.trial_id == trial.trial_id)
        .where(trial.study_id == study_id, trial.state == TrialState.RUNNING,
               beat.trial_id.is_(None))
    )
    with storage.engine.connect() as conn:
        return [int(row[0]) for row in conn.execute(query)]


def _compute_spent(
    storage: optuna.storages.RDBStorage, record: StudyRecord, study_id: int
) -> str | None:
    """Why the study's compute budget lets no trial start, or None (budget left, or none)."""
    if compute_limits(record.spec) == (None, None):
        return None
    from studies.budget import exhausted

    return exhausted(record.study_spec, study_spending(storage, study_id))


def _drop_retries(storage: optuna.storages.RDBStorage, study_id: int, reason: str) -> None:
    """Fail the WAITING retries of a study whose compute budget is spent (module docstring)."""
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        tid = trial_id_of(trial)
        try:
            storage.set_trial_user_attr(tid, "failure_reason", f"not retried: {reason}")
            storage.set_trial_state_values(tid, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass


def _close_if_done(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord,
    study: optuna.Study, counts: dict[TrialState, int] | None = None,
) -> str | None:
    """Finish the study when its budget is reached; say whether a trial may start now.

    Run under the study's lock (``counts``: the study's trials per state, read under it).
    The trial count: ``COMPLETE + PRUNED >= n_trials``, or too
    many failures. The compute budget: spent (running trials' epochs included) and no
    trial RUNNING any more (WAITING retries are failed, see the module docstring).

    Returns:
        None when a trial may start; else why not (the study was finished, or its compute
        budget is spent while trials still run: it finishes when the last one ends).
    """
    if counts is None:
        counts = trial_state_counts(storage, study_id_of(study))
    done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
    if done >= record.n_trials:
        set_study_status(storage, engine, record.id, "finished")
        return f"trial budget reached ({done} of {record.n_trials} trials)"
    if counts[TrialState.FAIL] >= record.n_trials + MAX_EXTRA_FAILURES:
        set_study_status(
            storage, engine, record.id, "finished",
            error=f"stopped after {counts[TrialState.FAIL]} failed trials, with {done} of "
            f"the {record.n_trials} trials asked for finished; the last failure: "
            f"{last_failure(storage, study_id_of(study))}",
        )
        return "too many failed trials"
    reason = _compute_spent(storage, record, study_id_of(study))
    if reason is not None and counts[TrialState.RUNNING] == 0:
        if counts[TrialState.WAITING]:
            _drop_retries(storage, study_id_of(study), reason)
        set_study_status(storage, engine, record.id, "finished")
    return reason


def _reserve(storage: optuna.storages.RDBStorage, study: optuna.Study, *, waiting: int) -> int:
    """Start the study's next trial, as ``study.ask()`` would: the oldest WAITING retry
    (each is taken by one process: ``set_trial_state_values`` is atomic), else a new one.
    One indexed query (none when ``waiting``, the count just read, is 0), where ``ask``
    reads every trial of the study to find retries. A new trial is created through the
    study's trial cache, which then knows it (as after ``ask``)."""
    study_id = study_id_of(study)
    for trial_id in waiting_trial_ids(storage, study_id) if waiting else ():
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                return trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return new_trial_id(study)


def claim_trial(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord
) -> optuna.Trial | None:
    """Start one trial of ``record`` if its budget allows, atomically across workers.

    Fails stale trials first (their retries are enqueued), then starts a WAITING retry or
    a new trial when ``WAITING + RUNNING + COMPLETE + PRUNED < n_trials`` and, with a
    compute budget, what the study has spent (RUNNING trials' epochs so far included) is
    under it (module docstring). The new trial's first heartbeat is recorded before the
    lock is released, so a worker killed from here on leaves a trial that
    :func:`reap_stale_trials` fails. Only that reservation holds the lock: the ``Trial``
    object is built (and its parameters sampled, lazily) after, so claims from many
    workers queue for a few statements, not for reading or sampling the study.

    Args:
        storage: Storage from :func:`open_storage` (heartbeat enabled).
        engine: Engine of the same database.
        record: The study (its status is re-read under the lock).

    Returns:
        The RUNNING trial, or None when the study is cancelled, finished, deleted or
        has no budget left. A queued study becomes ``running``.
    """
    study = _study(storage, record)
    if study is None:
        return None
    spec = record.study_spec
    study_id = study_id_of(study)
    # read before the lock (usually nothing is stale), re-read under it when something is
    stale = _stale_reasons(storage, study_id)
    with db_lock(engine, key=study_id):
        status = study_status(engine, record.id)
        if status not in RUNNABLE_STATUSES:
            return None
        if stale:
            _fail_stale(study, storage)
        counts = trial_state_counts(storage, study_id)
        if _close_if_done(storage, engine, record, study, counts) is not None:
            return None
        used = sum(counts[s] for s in (TrialState.WAITING, TrialState.RUNNING,
                                       TrialState.COMPLETE, TrialState.PRUNED))
        if counts[TrialState.WAITING] == 0 and used >= record.n_trials:
            return None
        if _awaits_warm_start(study, spec, counts):
            return None
        trial_id = _reserve(storage, study, waiting=counts[TrialState.WAITING])
        storage.record_heartbeat(trial_id)
        if status == "queued":
            set_study_status(storage, engine, record.id, "running")
    trial = trial_object(study, trial_id)
    _reseed(study, spec, trial.number)  # parameters are sampled lazily, after this
    return trial


def finish_trial(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord,
    trial: optuna.Trial, *, values: Sequence[float] | None = None,
    state: TrialState = TrialState.COMPLETE,
) -> bool:
    """Tell a claimed trial's result and mark the study finished when its budget is reached.

    The tell needs no lock: Optuna changes a trial's state in one row-locked statement
    (``set_trial_state_values``), so a trial failed by its lost heartbeat meanwhile (its
    retry then counts instead) refuses the tell. Closing the study runs under the lock,
    taken only when the counts say it may be due (:func:`_may_close`).

    Args:
        values: The objective values (COMPLETE) or None (PRUNED).
        state: ``COMPLETE`` or ``PRUNED``.

    Returns:
        False when the trial was no longer RUNNING (failed by the heartbeat meanwhile,
        or its study deleted): its result is dropped and the retry counts instead.
    """
    try:
        told = trial.study.tell(trial, values=values if state == TrialState.COMPLETE else None,
                                state=state, skip_if_finished=True)
    except (KeyError, optuna.exceptions.UpdateFinishedTrialError):
        return False
    if told.state != state:  # finished by another process before this tell
        return False
    if _may_close(storage, record, study_id_of(trial.study)):
        with db_lock(engine, key=study_id_of(trial.study)):
            _close_if_done(storage, engine, record, trial.study)
    return True


def _may_close(storage: optuna.storages.RDBStorage, record: StudyRecord, study_id: int) -> bool:
    """Whether :func:`_close_if_done` could close the study now, read without the lock.
    Each finisher reads after its own tell, so the one whose tell completes the budget
    sees it; a study with a compute budget is always checked under the lock."""
    if compute_limits(record.spec) != (None, None):
        return True
    counts = trial_state_counts(storage, study_id)
    return (counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] >= record.n_trials
            or counts[TrialState.FAIL] >= record.n_trials + MAX_EXTRA_FAILURES)


def fail_trial(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord,
    trial: optuna.Trial, *, reason: str, retry: bool,
) -> None:
    """Mark a claimed trial FAIL with user attr ``failure_reason``.

    Args:
        reason: Stored as the trial's ``failure_reason`` (``cancelled``,
            ``worker stopped``, or the error message).
        retry: Enqueue a WAITING copy with the same parameters (for interruptions that
            say nothing about the parameters: SIGTERM). At most 3 retries per trial.
    """
    with db_lock(engine, key=study_id_of(trial.study)):
        try:
            if storage.get_trial(trial_id_of(trial)).state != TrialState.RUNNING:
                return
            storage.set_trial_user_attr(trial_id_of(trial), "failure_reason", reason[:2000])
            trial.study.tell(trial, state=TrialState.FAIL)
            if retry:
                frozen = storage.get_trial(trial_id_of(trial))
                retry_callback()(trial.study, frozen)
        except (KeyError, optuna.exceptions.UpdateFinishedTrialError):
            return
        _close_if_done(storage, engine, record, trial.study)


def reap_stale_trials(
    storage: optuna.storages.RDBStorage, engine: Engine, record: StudyRecord
) -> None:
    """Fail ``record``'s RUNNING trials whose heartbeat is older than the grace period
    (and enqueue their retries), then close the study if its budget is reached."""
    study = _study(storage, record)
    if study is None:
        return
    with db_lock(engine, key=study_id_of(study)):
        runnable = study_status(engine, record.id) in RUNNABLE_STATUSES
        _fail_stale(study, storage, retry=runnable)
        if runnable:
            _close_if_done(storage, engine, record, study)

