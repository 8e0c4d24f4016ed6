"""The formats a network is exported in (torch-free, so listing them loads no trainer)."""

from __future__ import annotations

__all__ = ["FORMATS", "METADATA_FILE", "SUFFIXES"]

FORMATS = ("torchscript", "state_dict", "onnx")
SUFFIXES = {"torchscript": ".pt", "state_dict": ".pth", "onnx": ".onnx"}
METADATA_FILE = "shrinknets.json"
"""Name of the metadata entry (TorchScript extra file, ONNX model property key stem)."""
