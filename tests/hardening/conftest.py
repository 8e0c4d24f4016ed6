"""Fixtures of the hardening tests: one fork server per session (see ``_forkserver.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _hardening import ForkServer


@pytest.fixture(scope="session")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """A parent with torch and the service imported that forks workers and APIs fast."""
    server = ForkServer(tmp_path_factory.mktemp("forkserver"))
    yield server
    server.close()
