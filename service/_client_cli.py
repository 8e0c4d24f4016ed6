"""``shrinknets submit``, ``status`` and ``cancel``: a server elsewhere, from this machine
(``service.client``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from service.client import ApiClient, follow, progress_line, read_spec, settled, summary

__all__ = ["CLIENT_COMMANDS", "add_client_commands", "default_server"]

CLIENT_COMMANDS = ("submit", "status", "cancel")


def default_server() -> str:
    """``SHRINKNETS_SERVER``, else this machine's default ``serve`` address."""
    return os.environ.get("SHRINKNETS_SERVER") or "http://127.0.0.1:8000"


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.server, os.environ.get("SHRINKNETS_API_TOKEN") or None)


def _finish(client: ApiClient, kind: str, id: str, detail: dict[str, Any]) -> None:
    print(f"{kind} {id}: settled\n{summary(kind, detail)}")
    print(f"dashboard: {client.dashboard_url(kind, id)}")


def _cmd_submit(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms else None
    with _client(args) as client:
        made = client.submit(spec, arms)
        print(f"{made.kind} {made.id} queued ({' vs '.join(made.arms)}): "
              f"{client.dashboard_url(made.kind, made.id)}", flush=True)
        if args.detach:
            return 0
        detail = follow(client, made.kind, made.id, out=sys.stderr, poll_s=args.poll)
        _finish(client, made.kind, made.id, detail)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        kind, detail = client.find(args.id)
        if args.watch and not settled(kind, detail):
            detail = follow(client, kind, args.id, out=sys.stderr, poll_s=args.poll)
        if settled(kind, detail):
            _finish(client, kind, args.id, detail)
        else:
            print(f"{kind} {args.id}: {progress_line(kind, detail)}")
            print(f"dashboard: {client.dashboard_url(kind, args.id)}")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        kind, _ = client.find(args.id)
        client.cancel(kind, args.id)
        print(f"{kind} {args.id}: cancelled (running trials stop at their next epoch)")
    return 0


def add_client_commands(sub: Any) -> None:
    """Register ``submit``, ``status`` and ``cancel`` on the ``shrinknets`` parser."""
    server = {"default": None, "metavar": "URL",
              "help": "the server (default SHRINKNETS_SERVER or http://127.0.0.1:8000); "
                      "the token comes from SHRINKNETS_API_TOKEN"}
    submit = sub.add_parser("submit", help="post a study (or a comparison, with --arms) to a "
                            "server and follow it to the end")
    submit.add_argument("spec", help="the spec file (JSON; a comparison may carry 'arms')")
    submit.add_argument("--arms", default=None, metavar="ARM,ARM[,...]",
                        help="compare these arms (lambda, lambda_path, prune_path, width, "
                        "width_hyperband, width_mo_asha)")
    submit.add_argument("--detach", action="store_true", help="print the id and return")
    submit.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    submit.add_argument("--server", **server)
    submit.set_defaults(func=_run(_cmd_submit))
    status = sub.add_parser("status", help="where a study or comparison is")
    status.add_argument("id")
    status.add_argument("--watch", action="store_true", help="follow it until it settles")
    status.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    status.add_argument("--server", **server)
    status.set_defaults(func=_run(_cmd_status))
    cancel = sub.add_parser("cancel", help="cancel a study or comparison")
    cancel.add_argument("id")
    cancel.add_argument("--server", **server)
    cancel.set_defaults(func=_run(_cmd_cancel))


def _run(command: Any) -> Any:
    """``command`` with the server's default filled in and Ctrl-C leaving quietly."""
    def run(args: argparse.Namespace) -> int:
        args.server = args.server or default_server()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
        try:
            return int(command(args))
        except KeyboardInterrupt:
            print("interrupted: the server goes on; `shrinknets status ID` shows it",
                  file=sys.stderr)
            return 130
    run.__name__ = command.__name__
    return run

