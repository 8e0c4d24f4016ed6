"""A client for a ShrinkNets server elsewhere: submit a study or comparison, follow it, cancel it.

``shrinknets submit SPEC.json [--arms …] --server URL`` posts the spec (a comparison when
arms are given, else a study) and follows it with one progress bar per arm (tqdm) until
every study has settled, then prints the same summary lines as ``demo`` and the
dashboard URL; ``--detach`` prints the id and returns at once. ``shrinknets status ID
[--watch]`` and ``shrinknets cancel ID`` take a study's or a comparison's id. The token
comes from ``SHRINKNETS_API_TOKEN``; the server from ``--server`` or
``SHRINKNETS_SERVER`` (default ``http://127.0.0.1:8000``).

Errors are the API's own message, naming the field and the allowed values (a 422), or a
sentence saying what to set (no server at that address, a missing or wrong token), never
a traceback. ``demo`` follows its comparison with the same :func:`follow`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from service.errors import ServiceError

__all__ = [
    "API",
    "ApiClient",
    "ClientError",
    "Submitted",
    "follow",
    "progress_line",
    "read_spec",
    "settled",
    "summary",
]

API = "/api/v1"
_SETTLED = ("finished", "failed", "cancelled")  # service.storage.SETTLED_STATUSES (tested)


class ClientError(ServiceError):
    """A request the server refused or could not answer; the message says what to do.

    Attributes:
        status: the HTTP status of the answer (``None``: no answer).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Submitted:
    """What ``submit`` created: ``kind`` is ``comparison`` or ``study``."""

    kind: str
    id: str
    arms: list[str]


def read_spec(path: str | Path) -> dict[str, Any]:
    """A spec file as JSON (``-`` is not accepted: give a file).

    Raises:
        ClientError: the file is missing or not a JSON object.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ClientError(
            f"spec file {file}: cannot be read ({e.strerror}); check the path"
        ) from e
    except json.JSONDecodeError as e:
        raise ClientError(f"spec file {file}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ClientError(f"spec file {file}: expected a JSON object")
    return data


class ApiClient:
    """The JSON API of one server (``token``: its ``SHRINKNETS_API_TOKEN``)."""

    def __init__(self, server: str, token: str | None = None, *, timeout_s: float = 60) -> None:
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the answer's JSON (``None`` for an empty answer).

        Raises:
            ClientError: no server answers, or it answered with an error (its message).
        """
        try:
            answer = self._http.request(method, f"{API}{path}", **kwargs)
        except httpx.HTTPError as e:
            raise ClientError(
                f"cannot reach a ShrinkNets server at {self.server} ({type(e).__name__}: {e}); "
                "start one there with `shrinknets serve`, or pass --server URL "
                "(or set SHRINKNETS_SERVER)"
            ) from e
        if answer.status_code >= 400:
            raise ClientError(_error_text(answer), answer.status_code)
        return answer.json() if answer.content else None

    def submit(self, spec: dict[str, Any], arms: list[str] | None = None) -> Submitted:
        """Post ``spec`` as a comparison of ``arms`` (or ``spec["arms"]``), else a study."""
        if arms is not None:
            spec = {**spec, "arms": arms}
        if "arms" in spec:
            body = self.request("POST", "/comparisons", json=spec)
            return Submitted("comparison", body["id"], list(body["arms"]))
        body = self.request("POST", "/studies", json=spec)
        return Submitted("study", body["id"], [str(body.get("arm") or body.get("kind"))])

    def find(self, id: str) -> tuple[str, dict[str, Any]]:
        """``(kind, detail)`` of the comparison or study with this id.

        Raises:
            ClientError: neither exists.
        """
        for kind in ("comparison", "study"):
            try:
                return kind, self.detail(kind, id)
            except ClientError as e:
                if e.status != 404:
                    raise
        raise ClientError(f"no study or comparison has the id {id!r} on {self.server}")

    def detail(self, kind: str, id: str) -> dict[str, Any]:
        """The comparison's or study's detail (``GET …/{id}``)."""
        return dict(self.request("GET", f"/{_plural(kind)}/{id}"))

    def cancel(self, kind: str, id: str) -> dict[str, Any]:
        """Cancel it: no new trial starts, running ones stop at their next epoch."""
        return dict(self.request("POST", f"/{_plural(kind)}/{id}/cancel"))

    def dashboard_url(self, kind: str, id: str) -> str:
        """The page that shows it."""
        return f"{self.server}/{_plural(kind)}/{id}"


def _plural(kind: str) -> str:
    return "comparisons" if kind == "comparison" else "studies"


def _error_text(answer: httpx.Response) -> str:
    """The API's own message for an error answer, with what to set for 401/403."""
    try:
        error = answer.json()["error"]
        details = error.get("details") or [error]
        message = "; ".join(str(d.get("message")) for d in details)
        code = str(error.get("code", answer.status_code))
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code = answer.text[:500] or answer.reason_phrase, str(answer.status_code)
    if answer.status_code == 401:
        return (f"the server wants its API token ({message}): set SHRINKNETS_API_TOKEN to "
                "the server's token")
    if answer.status_code == 403:
        return (f"the server refused ({message}): it is read-only, or it has no token and "
                "you are not on its machine (give it SHRINKNETS_API_TOKEN and set the same "
                "here)")
    return f"{code} ({answer.status_code}): {message}"


def _arms(kind: str, detail: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(arm, study)`` of each arm of a comparison, or the study itself."""
    if kind == "comparison":
        return [(str(a["arm"]), a["study"]) for a in detail.get("arms") or []]
    return [(str(detail.get("arm") or detail.get("kind")), detail)]


def settled(kind: str, detail: dict[str, Any]) -> bool:
    """True when every study of it has finished, failed or been cancelled."""
    return all(study.get("status") in _SETTLED for _, study in _arms(kind, detail))


def progress_line(kind: str, detail: dict[str, Any]) -> str:
    """One line: per arm, trials done (of its trial cap when that bounds it), the share of
    its budget used, running trials and status."""
    parts = []
    for arm, study in _arms(kind, detail):
        p = study.get("progress") or {}
        done = f"{p.get('done', 0)}"
        if p.get("trials_bound", True):
            done += f"/{p.get('budget', study.get('n_trials'))}"
        parts.append(f"{arm}: {done} done ({100 * p.get('fraction', 0.0):.0f} %), "
                     f"{p.get('running', 0)} running ({study.get('status')})")
    return " | ".join(parts)


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "–" if value is None else format(value, spec)


def summary(kind: str, detail: dict[str, Any]) -> str:
    """The summary lines: per arm of a comparison its useful hypervolume (validation and
    test), compute share to the level and total compute, then how the reference was set;
    for a study its best loss and trials."""
    if kind == "study":
        best = detail.get("best_trials") or []
        loss = min((t["values"][0] for t in best if t.get("values")), default=None)
        p = detail.get("progress") or {}
        return (f"  {detail.get('name')} ({detail.get('arm')}): {p.get('complete', 0)} "
                f"complete, best val loss {_fmt(loss)}, {len(detail.get('pareto_front') or [])} "
                "networks on its front")
    metrics = detail.get("metrics") or {}
    lines = []
    for a in metrics.get("arms") or []:
        reached = "reached" if a.get("reached") else "never reached"
        lines.append(
            f"  {a.get('label', a.get('arm')):<25} useful hypervolume "
            f"{_fmt(a.get('hypervolume'))} (test {_fmt(a.get('test_hypervolume'))}), "
            f"compute share {_fmt(a.get('compute_share'), '.3g')} ({reached}), total "
            f"{_fmt(a.get('total_cost_macs'), '.3g')} MACs, {a.get('n_complete', '?')} "
            f"complete, best val loss {_fmt(a.get('best_val_loss'))}"
        )
    if metrics.get("reference"):
        lines.append(f"  {metrics['reference']}")
    return "\n".join(lines)


@contextmanager
def _bars(arms: list[str], out: TextIO) -> Iterator[dict[str, Any]]:
    from tqdm import tqdm

    width = max((len(a) for a in arms), default=4)
    bars = {arm: tqdm(total=100, desc=arm.ljust(width), position=i, file=out, leave=True,
                      bar_format="{desc} {bar} {n:.0f} %{postfix}", dynamic_ncols=True)
            for i, arm in enumerate(arms)}
    try:
        yield bars
    finally:
        for bar in bars.values():
            bar.close()


def follow(
    client: ApiClient, kind: str, id: str, *, out: TextIO, bars: bool = True,
    poll_s: float = 2.0, on_line: Callable[[str], None] | None = None,
    alive: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll a study or comparison until every study of it has settled.

    Args:
        client, kind, id: what to follow.
        out: where the progress bars go (one per arm).
        bars: draw progress bars; else ``on_line`` gets each changed :func:`progress_line`.
        poll_s: seconds between polls.
        on_line: called with each new progress line (the demo prints them).
        alive: called every poll; may raise to stop following (the demo checks its
            server still runs).

    Returns:
        The settled detail.
    """
    detail = client.detail(kind, id)
    last = ""
    with _bars([a for a, _ in _arms(kind, detail)] if bars else [], out) as drawn:
        while True:
            line = progress_line(kind, detail)
            if line != last and on_line is not None:
                on_line(line)
            last = line
            for arm, study in _arms(kind, detail):
                bar = drawn.get(arm)
                if bar is not None:
                    p = study.get("progress") or {}
                    bar.n = round(100 * float(p.get("fraction") or 0.0), 1)
                    bar.set_postfix_str(f"{p.get('done', 0)} trials, {study.get('status')}")
            if settled(kind, detail):
                return detail
            if alive is not None:
                alive()
            time.sleep(poll_s)
            detail = client.detail(kind, id)
