"""Fixtures for the studies tests: one torch thread, quiet Optuna."""

from __future__ import annotations

from collections.abc import Iterator

import optuna
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # tiny models on a shared 2-core machine: intra-op threads only add contention
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    torch.set_num_threads(before)
