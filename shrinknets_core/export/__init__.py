"""A trained network out of the trainer: checkpoints, plain exported networks, predictions.

``save_checkpoint``/``load_checkpoint`` keep the spec, weights and removal log (the shrunk
network is rebuilt by replaying removals); ``export_model`` writes a plain network with
the switches folded in (TorchScript or ONNX) and its preprocessing; ``predict_csv`` runs
an exported network on a CSV file.
"""

from shrinknets_core.export._export import (
    FORMATS,
    METADATA_FILE,
    SUFFIXES,
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
