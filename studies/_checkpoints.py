"""Training states kept as artifacts of a study: a λ path's checkpoint, λ search's warm-up.

A state is one ``torch.save`` of a dict, uploaded to the study's Optuna artifact store and
named by a study user attribute (``{"artifact_id": …, …}``):

* ``path_checkpoint`` (``studies.lambda_path``), replaced after every stored trial: the
  path trainer's state, the path's position (``PathState``), the warm-up's end (the start
  of every shifted pass) and the trainers of the snapshots the refinement may still
  continue (``studies._path_refine``);
* ``lambda_warm_start`` (``studies._warm_start``), written once: the λ = 0 warm-up every
  λ trial of the study starts from.

Trainer states are rebuilt on a fresh full-width network by replaying its removals
(``Trainer.load_state_dict``), so any machine that can read the artifact store resumes
them.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

import optuna
import torch

from shrinknets_core.training.trainer import TrainConfig, Trainer
from studies._search_space import fixed_plan
from studies.objectives import build_trial_model, load_study_data
from studies.spec import StudySpec

__all__ = ["load_checkpoint", "save_checkpoint", "trainer_from_state"]


def save_checkpoint(
    study: optuna.Study, store: Any, payload: dict[str, Any], *, attr: str, label: str,
    meta: dict[str, Any] | None = None,
) -> None:
    """Upload ``payload`` as an artifact of the study and point the study's ``attr``
    attribute at it (``{"artifact_id": …, **meta}``); the artifact it named before, if
    any, is removed."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    previous = study.user_attrs.get(attr)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{attr}_{label}.pt"
        file.write_bytes(buffer.getvalue())
        artifact_id = optuna.artifacts.upload_artifact(
            artifact_store=store, file_path=str(file), study_or_trial=study,
            mimetype="application/octet-stream",
        )
    study.set_user_attr(attr, {"artifact_id": artifact_id, **(meta or {})})
    if previous and previous.get("artifact_id"):  # an old one left costs only disk
        with contextlib.suppress(Exception):
            store.remove(previous["artifact_id"])


def load_checkpoint(study: optuna.Study, store: Any, *, attr: str) -> dict[str, Any] | None:
    """The payload ``attr`` names; ``None`` without a store or such an attribute, or
    when the artifact cannot be read (another machine without that folder)."""
    meta = study.user_attrs.get(attr)
    if store is None or not meta or not meta.get("artifact_id"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "checkpoint.pt"
        try:
            optuna.artifacts.download_artifact(
                artifact_store=store, file_path=str(file), artifact_id=meta["artifact_id"]
            )
        except Exception:
            return None
        loaded: dict[str, Any] = torch.load(file, map_location="cpu", weights_only=False)
    return loaded


def trainer_from_state(
    spec: StudySpec, state: dict[str, Any], device: str | None,
    config: TrainConfig | None = None,
) -> Trainer:
    """A trainer on a fresh full-width network with ``state`` (``Trainer.state_dict``)
    loaded: its removals replayed, its optimizer and dead rule restored.

    Args:
        config: the trainer's options (default: the ones saved in ``state``); ``device``
            overrides its device.
    """
    config = config or TrainConfig.from_dict(state["config"])
    if device is not None:
        config = TrainConfig.from_dict({**config.to_dict(), "device": device})
    data = load_study_data(spec)
    trainer = Trainer(build_trial_model(spec, fixed_plan(spec, 0.0), data, seed=0), data,
                      config)
    trainer.load_state_dict(state)
    return trainer
