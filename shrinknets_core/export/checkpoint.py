"""Checkpoints of (possibly shrunk) ShrinkNets: spec + removal log + state dict.

A shrunk network's ``state_dict`` does not fit a freshly built model, so the file also
stores the :class:`~shrinknets_core.network.models.ModelSpec` and the removal log;
:func:`load_checkpoint` builds the model, replays the removals, then loads the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.network._groups import RemovalRecord
from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.removal._remove import replay_removals

__all__ = ["load_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1


def save_checkpoint(
    path: str | Path, model: ShrinkNet, optimizer: torch.optim.Optimizer | None = None
) -> None:
    """Write ``{"format", "spec", "removal_log", "state_dict", "optimizer"}`` to ``path``.

    Args:
        path: file to write (parent directories must exist).
        model: the network.
        optimizer: optional; its ``state_dict()`` is stored under ``"optimizer"``.
    """
    payload: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "spec": model.spec.to_dict(),
        "removal_log": [r.to_dict() for r in model.removal_log],
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
    }
    torch.save(payload, Path(path))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict (tensors on CPU), validated.

    Raises:
        ShrinkNetsError: if the file is missing, unreadable or not a ShrinkNet checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ShrinkNetsError(f"checkpoint {path} does not exist; check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ShrinkNetsError(
            f"checkpoint {path} could not be read ({e}); it must be written by save_checkpoint"
        ) from e
    missing = {"format", "spec", "removal_log", "state_dict"} - set(
        payload if isinstance(payload, dict) else {}
    )
    if missing:
        raise ShrinkNetsError(
            f"checkpoint {path} lacks {sorted(missing)}; it must be written by save_checkpoint"
        )
    if payload["format"] != FORMAT_VERSION:
        raise ShrinkNetsError(
            f"checkpoint {path} has format {payload['format']}; this version reads "
            f"{FORMAT_VERSION}"
        )
    return dict(payload)


def load_checkpoint(path: str | Path) -> ShrinkNet:
    """Rebuild the network saved by :func:`save_checkpoint` (CPU, training mode).

    The optimizer state, if saved, is in ``read_checkpoint(path)["optimizer"]``; load it
    into an optimizer built over the returned model's parameters.

    Raises:
        ShrinkNetsError: if the file is missing or malformed (see :func:`read_checkpoint`).
        ConfigError: if the stored spec is invalid.
    """
    payload = read_checkpoint(path)
    model = build_model(ModelSpec.from_dict(payload["spec"]))
    replay_removals(model, [RemovalRecord.from_dict(r) for r in payload["removal_log"]])
    model.load_state_dict(payload["state_dict"])
    return model
