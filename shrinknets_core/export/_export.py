"""Trained networks as files that run without this project: TorchScript, ONNX, and a bundle.

Every format takes **raw feature rows** — the feature columns of the user's file, in
training order — and standardises them inside with the training split's statistics the
way the data was standardised for training (float64 arithmetic, then float32), so a file
row gives bit for bit the features the network was evaluated on. Outputs are class logits
(classification: the label is ``metadata["class_names"][argmax]``) or the targets in the
data's own units (regression, float64).

The network is the trained one with its dead neurons removed and each switch turned into a
constant per-neuron scale (:class:`Scale`, a buffer, no parameter): the same products in
the same order as the :class:`~shrinknets_core.network.models.ShrinkNet` in eval mode, so outputs
equal the trial's evaluation exactly (training removes dead neurons as they die).
(:func:`~shrinknets_core.removal._fold.fold` multiplies the scale into the weights instead, one
multiply fewer per neuron, at the price of last-bit differences that can flip a near-tie.)

Formats (:data:`FORMATS`):

* ``torchscript`` (``.pt``): ``torch.jit.load(path)`` and nothing else; the metadata JSON
  travels as the extra file ``shrinknets.json``.
* ``state_dict`` (``.pth``): the checkpoint of :mod:`shrinknets_core.export.checkpoint` (model
  spec, removal log, weights — :func:`~shrinknets_core.export.checkpoint.load_checkpoint` rebuilds
  the ShrinkNet with its switches) plus ``preprocessing`` tensors and ``metadata``; read it
  with :func:`load_bundle`.
* ``onnx`` (``.onnx``): the same network as an ONNX graph (input ``x`` float64 raw rows,
  output ``y``, dynamic batch) from PyTorch's TorchScript-based exporter, which needs the
  ``onnx`` package only (the newer ``torch.export`` exporter needs onnxscript as well and
  takes seconds per network); the metadata JSON is the model property ``shrinknets.json``.

Pass raw rows as float64 for bit-exact standardisation; float32 rows work too, rounded
first.
"""

from __future__ import annotations

import copy
import json
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from shrinknets_core.datasets import Dataset
from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.export.checkpoint import FORMAT_VERSION, read_checkpoint
from shrinknets_core.export.formats import FORMATS, METADATA_FILE, SUFFIXES
from shrinknets_core.network.models import ModelSpec, ShrinkNet, build_model
from shrinknets_core.network.switches import InputSwitch, Switch
from shrinknets_core.removal._fold import SelectColumns, frozen, live_copy
from shrinknets_core.removal._remove import RemovalRecord, replay_removals

__all__ = [
    "Exported",
    "Preprocessing",
    "RawInputNet",
    "Scale",
    "export_model",
    "load_bundle",
    "load_exported",
    "plain_network",
    "raw_input_net",
]



@dataclass(frozen=True)
class Preprocessing:
    """The training split's statistics (float64): features, and targets for regression."""

    x_mean: Tensor
    x_std: Tensor
    y_mean: Tensor | None = None
    y_std: Tensor | None = None

    @classmethod
    def of_dataset(cls, data: Dataset) -> Preprocessing:
        """The statistics ``data`` was standardised with.

        Raises:
            ShrinkNetsError: the dataset carries no statistics (built by hand).
        """
        if data.x_mean is None or data.x_std is None:
            raise ShrinkNetsError(
                f"dataset {data.name!r} has no standardisation statistics; load it with "
                "shrinknets_core.datasets.load_dataset"
            )
        regression = data.task == "regression"
        return cls(
            data.x_mean.double(), data.x_std.double(),
            data.y_mean.double() if regression and data.y_mean is not None else None,
            data.y_std.double() if regression and data.y_std is not None else None,
        )

    def tensors(self) -> dict[str, Tensor]:
        """The statistics by name (for ``torch.save``)."""
        out = {"x_mean": self.x_mean, "x_std": self.x_std}
        if self.y_mean is not None and self.y_std is not None:
            out.update(y_mean=self.y_mean, y_std=self.y_std)
        return out


class Scale(nn.Module):
    """Multiplies dim 1 of its input by a constant (a switch's final gate ``β · alive``)."""

    if TYPE_CHECKING:  # buffer types for mypy; TorchScript cannot read string annotations
        scale: Tensor

    def __init__(self, scale: Tensor, *, conv: bool) -> None:
        super().__init__()
        self.register_buffer("scale", scale.detach().clone())
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        if self.conv:
            return x * self.scale.view(1, -1, 1, 1)
        return x * self.scale


class RawInputNet(nn.Module):
    """Raw feature rows in; logits (classification) or targets in data units out."""

    if TYPE_CHECKING:  # buffer types for mypy; TorchScript cannot read string annotations
        x_mean: Tensor
        x_std: Tensor
        y_mean: Tensor
        y_std: Tensor

    def __init__(self, net: nn.Module, prep: Preprocessing) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("x_mean", prep.x_mean.double().clone())
        self.register_buffer("x_std", prep.x_std.double().clone())
        self.regression = prep.y_mean is not None
        zeros = torch.zeros(1, dtype=torch.float64)
        self.register_buffer("y_mean", (prep.y_mean if prep.y_mean is not None else zeros)
                             .double().clone())
        self.register_buffer("y_std", (prep.y_std if prep.y_std is not None else zeros + 1)
                             .double().clone())

    def forward(self, x: Tensor) -> Tensor:
        z = ((x.to(torch.float64) - self.x_mean) / self.x_std).to(torch.float32)
        out = self.net(z)
        if self.regression:
            return out.to(torch.float64) * self.y_std + self.y_mean
        return out


def plain_network(model: ShrinkNet) -> nn.Sequential:
    """``model`` without switches or dead neurons, in eval mode, no trainable parameter.

    Its outputs equal bit for bit those of ``model`` once its dead neurons are removed (as
    training with removal leaves it); dead neurons still in place add zero terms that
    change the summation order of the next layer, so they agree to rounding only.
    ``model`` is left untouched.
    """
    net, modules = live_copy(model)
    net.cpu()
    for m in net.layers:
        if isinstance(m, InputSwitch):
            if m.num_features != m.in_features:
                modules.append(SelectColumns(m.index))
            modules.append(Scale(m.gate(), conv=False))
        elif isinstance(m, Switch):
            modules.append(Scale(m.gate(), conv=m.conv))
        else:
            modules.append(m)
    return frozen(modules)


def raw_input_net(model: ShrinkNet, prep: Preprocessing) -> RawInputNet:
    """The network users run: :func:`plain_network` behind the standardisation."""
    return RawInputNet(plain_network(model), prep).eval()


def _quiet(fn: Callable[[], Any]) -> Any:
    """Run an exporter without its deprecation chatter (TorchScript and the TorchScript
    ONNX exporter are deprecated upstream but remain the formats with offline runtimes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return fn()


def _write_torchscript(path: Path, net: RawInputNet, meta: str) -> None:
    scripted = _quiet(lambda: torch.jit.script(net))
    _quiet(lambda: torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: meta}))


def _write_bundle(path: Path, model: ShrinkNet, prep: Preprocessing, meta: str) -> None:
    net = copy.deepcopy(model).cpu()
    torch.save({
        "format": FORMAT_VERSION,
        "spec": net.spec.to_dict(),
        "removal_log": [r.to_dict() for r in net.removal_log],
        "state_dict": net.state_dict(),
        "optimizer": None,
        "preprocessing": prep.tensors(),
        "metadata": meta,
    }, path)


def _write_onnx(path: Path, net: RawInputNet, meta: str, n_features: int) -> None:
    try:
        import onnx
    except ImportError as e:
        raise ShrinkNetsError(
            "ONNX export needs the 'onnx' package; install it (pip install onnx)"
        ) from e
    example = torch.zeros(2, n_features, dtype=torch.float64)  # raw rows, as in the file
    _quiet(lambda: torch.onnx.export(
        net, (example,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "rows"}, "y": {0: "rows"}},
    ))
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_FILE, meta
    onnx.save(graph, str(path))


def export_model(
    model: ShrinkNet,
    prep: Preprocessing,
    metadata: dict[str, Any],
    folder: str | Path,
    *,
    stem: str = "model",
    formats: tuple[str, ...] = FORMATS,
) -> dict[str, Path]:
    """Write ``model`` in each of ``formats`` to ``folder/<stem><suffix>``.

    Args:
        model: the trained network (any device; it is left untouched).
        prep: the standardisation of its training data.
        metadata: JSON-serialisable description stored in every file.
        folder: an existing directory.
        stem: file name without suffix.
        formats: a subset of :data:`FORMATS`.

    Returns:
        The written file of each format.

    Raises:
        ShrinkNetsError: an unknown format, or ONNX without the ``onnx`` package.
        OSError: the files could not be written (disk full, permissions).
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ShrinkNetsError(f"unknown model formats {unknown}; allowed: {', '.join(FORMATS)}")
    meta = json.dumps(metadata, sort_keys=True)
    net = raw_input_net(model, prep)
    paths = {f: Path(folder) / f"{stem}{SUFFIXES[f]}" for f in formats}
    if "torchscript" in paths:
        _write_torchscript(paths["torchscript"], net, meta)
    if "state_dict" in paths:
        _write_bundle(paths["state_dict"], model, prep, meta)
    if "onnx" in paths:
        _write_onnx(paths["onnx"], net, meta, model.spec.in_features)
    return paths


def load_bundle(path: str | Path) -> tuple[ShrinkNet, Preprocessing, dict[str, Any]]:
    """The ShrinkNet (CPU, eval mode, removals replayed), standardisation and metadata of a
    ``state_dict`` file.

    Raises:
        ShrinkNetsError: the file is missing, unreadable or not a model bundle.
    """
    payload = read_checkpoint(path)
    if "preprocessing" not in payload or "metadata" not in payload:
        raise ShrinkNetsError(
            f"{path} is a checkpoint without preprocessing or metadata; it is not a model "
            "bundle (download one with format=state_dict)"
        )
    model = build_model(ModelSpec.from_dict(payload["spec"]))
    replay_removals(model, [RemovalRecord.from_dict(r) for r in payload["removal_log"]])
    model.load_state_dict(payload["state_dict"])
    stats = payload["preprocessing"]
    prep = Preprocessing(stats["x_mean"], stats["x_std"], stats.get("y_mean"), stats.get("y_std"))
    return model.eval(), prep, dict(json.loads(payload["metadata"]))


@dataclass(frozen=True)
class Exported:
    """A model file loaded for prediction: ``predict(raw rows) -> outputs`` and metadata."""

    format: str
    metadata: dict[str, Any]
    predict: Callable[[Tensor], Tensor]


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(f"extra/{METADATA_FILE}") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_exported(path: str | Path) -> Exported:
    """Load a file written by :func:`export_model`, whatever its format.

    Raises:
        ShrinkNetsError: not such a file; an ONNX file without ``onnxruntime`` installed.
    """
    path = Path(path)
    if not path.is_file():
        raise ShrinkNetsError(f"model file {path} does not exist; check the path")
    if path.suffix == SUFFIXES["onnx"]:
        return _load_onnx(path)
    if _is_torchscript(path):
        extra = {METADATA_FILE: ""}
        module = _quiet(lambda: torch.jit.load(str(path), map_location="cpu",
                                               _extra_files=extra))
        return Exported("torchscript", dict(json.loads(extra[METADATA_FILE])), module)
    model, prep, metadata = load_bundle(path)
    return Exported("state_dict", metadata, raw_input_net(model, prep))


def _load_onnx(path: Path) -> Exported:
    try:
        import onnxruntime
    except ImportError as e:
        raise ShrinkNetsError(
            f"{path} is an ONNX model; running it needs onnxruntime (pip install "
            "onnxruntime), or download the torchscript format instead"
        ) from e
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_FILE not in props:
        raise ShrinkNetsError(f"{path} has no {METADATA_FILE} property; it was not exported here")

    def predict(x: Tensor) -> Tensor:
        (out,) = session.run(["y"], {"x": x.to(torch.float64).numpy()})
        return torch.from_numpy(out)

    return Exported("onnx", dict(json.loads(props[METADATA_FILE])), predict)
