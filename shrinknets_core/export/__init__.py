"""A trained network out of the trainer: checkpoints, plain exported networks, predictions.

``save_checkpoint``/``load_checkpoint`` keep the spec, weights and removal log (the shrunk
network is rebuilt by replaying removals); ``export_model`` writes a plain network with
the switches folded in (TorchScript or ONNX) and its preprocessing; ``predict_csv`` runs
an exported network on a CSV file.

Public names are imported on first use (PEP 562): ``formats`` (the format names) loads
without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shrinknets_core._lazy import lazy_attributes

if TYPE_CHECKING:
    from shrinknets_core.export._export import (
        Exported,
        Preprocessing,
        RawInputNet,
        Scale,
        export_model,
        load_bundle,
        load_exported,
        plain_network,
        raw_input_net,
    )
    from shrinknets_core.export.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
    from shrinknets_core.export.formats import FORMATS, METADATA_FILE, SUFFIXES
    from shrinknets_core.export.predict import Predictions, predict_csv, read_rows

__all__ = [
    "FORMATS",
    "METADATA_FILE",
    "SUFFIXES",
    "Exported",
    "Predictions",
    "Preprocessing",
    "RawInputNet",
    "Scale",
    "export_model",
    "load_bundle",
    "load_checkpoint",
    "load_exported",
    "plain_network",
    "predict_csv",
    "raw_input_net",
    "read_checkpoint",
    "read_rows",
    "save_checkpoint",
]

#: Public name → the module that defines it, imported on first use (PEP 562).
_EXPORTS: dict[str, str] = {
    "Exported": "shrinknets_core.export._export",
    "FORMATS": "shrinknets_core.export.formats",
    "METADATA_FILE": "shrinknets_core.export.formats",
    "Predictions": "shrinknets_core.export.predict",
    "Preprocessing": "shrinknets_core.export._export",
    "RawInputNet": "shrinknets_core.export._export",
    "SUFFIXES": "shrinknets_core.export.formats",
    "Scale": "shrinknets_core.export._export",
    "export_model": "shrinknets_core.export._export",
    "load_bundle": "shrinknets_core.export._export",
    "load_checkpoint": "shrinknets_core.export.checkpoint",
    "load_exported": "shrinknets_core.export._export",
    "plain_network": "shrinknets_core.export._export",
    "predict_csv": "shrinknets_core.export.predict",
    "raw_input_net": "shrinknets_core.export._export",
    "read_checkpoint": "shrinknets_core.export.checkpoint",
    "read_rows": "shrinknets_core.export.predict",
    "save_checkpoint": "shrinknets_core.export.checkpoint",
}

__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, __all__)
