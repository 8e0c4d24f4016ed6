"""export: TorchScript, state-dict bundle and ONNX files that take raw feature rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _nets import SPECS, kill, warm_up_bn
from torch import nn

from shrinknets_core.datasets import load_dataset
from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.export import (
    FORMATS,
    Preprocessing,
    export_model,
    load_bundle,
    load_exported,
    plain_network,
)
from shrinknets_core.export.checkpoint import load_checkpoint
from shrinknets_core.network.models import ShrinkNet, build_model
from shrinknets_core.network.switches import Switch
from shrinknets_core.removal import remove_dead


def _trained_like(name: str) -> ShrinkNet:
    """A float32 model of ``SPECS[name]`` with random gates (negative ones too), a third of
    its neurons dead and removed (as training leaves it) and BN statistics warmed up."""
    m = build_model(SPECS[name], seed=1)
    x = torch.randn(32, m.spec.in_features)
    warm_up_bn(m, x)
    with torch.no_grad():
        for sw in m.switches():
            sw.beta.uniform_(-2.0, 2.0)
    kill(m)
    remove_dead(m)
    return m.eval()


def _prep(n_features: int, n_targets: int | None = None) -> Preprocessing:
    g = torch.Generator().manual_seed(3)
    mean = torch.randn(n_features, generator=g, dtype=torch.float64) * 10
    std = torch.rand(n_features, generator=g, dtype=torch.float64) * 3 + 0.1
    if n_targets is None:
        return Preprocessing(mean, std)
    y_mean = torch.randn(n_targets, generator=g, dtype=torch.float64)
    y_std = torch.rand(n_targets, generator=g, dtype=torch.float64) + 0.5
    return Preprocessing(mean, std, y_mean, y_std)


@pytest.mark.parametrize("name", ["mlp", "mlp_bn", "cnn", "linear"])
def test_plain_network_gives_the_shrinknets_outputs_bit_for_bit(name: str) -> None:
    m = _trained_like(name)
    x = torch.randn(20, m.spec.in_features)
    plain = plain_network(m)
    assert isinstance(plain, nn.Sequential) and not plain.training
    assert not any(isinstance(mod, Switch) for mod in plain.modules())
    assert not any(p.requires_grad for p in plain.parameters())
    with torch.no_grad():
        assert torch.equal(plain(x), m(x))
    assert all(sw.num_features > 0 for sw in m.switches())  # the original is untouched


@pytest.mark.parametrize("name", ["mlp", "cnn", "linear"])
def test_every_format_takes_raw_rows_and_standardises_them_as_training_did(
    name: str, tmp_path: Path
) -> None:
    m = _trained_like(name)
    regression = name == "linear"  # the linear spec is multi-target regression
    prep = _prep(m.spec.in_features, m.spec.out_features if regression else None)
    raw = torch.randn(17, m.spec.in_features, dtype=torch.float64) * 10 + 4
    features = ((raw - prep.x_mean) / prep.x_std).float()  # as datasets._split does
    with torch.no_grad():
        expected = m(features)
    if regression:
        assert prep.y_std is not None and prep.y_mean is not None
        expected = expected.double() * prep.y_std + prep.y_mean
    files = export_model(m, prep, {"task": "x", "n": 1}, tmp_path, stem="net")
    assert sorted(files) == sorted(FORMATS)
    assert {p.name for p in files.values()} == {"net.pt", "net.pth", "net.onnx"}

    scripted = torch.jit.load(str(files["torchscript"]))  # nothing of this project needed
    with torch.no_grad():
        assert torch.equal(scripted(raw), expected)
    for fmt, path in files.items():
        loaded = load_exported(path)
        assert (loaded.format, loaded.metadata) == (fmt, {"task": "x", "n": 1})
        with torch.no_grad():
            out = loaded.predict(raw)
        if fmt == "onnx":  # onnxruntime's kernels round differently in the last bits
            np.testing.assert_allclose(out.double().numpy(), expected.double().numpy(),
                                       rtol=1e-5, atol=1e-5)
        else:
            assert torch.equal(out, expected)


def test_bundle_reloads_the_shrinknet_with_its_removal_log(tmp_path: Path) -> None:
    m = _trained_like("mlp_bn")
    files = export_model(m, _prep(m.spec.in_features), {"k": "v"}, tmp_path,
                         formats=("state_dict",))
    again = load_checkpoint(files["state_dict"]).eval()  # the plain checkpoint reader works
    model, prep, meta = load_bundle(files["state_dict"])
    x = torch.randn(9, m.spec.in_features)
    with torch.no_grad():
        assert torch.equal(again(x), m(x)) and torch.equal(model(x), m(x))
    assert model.alive_widths() == m.alive_widths() and model.removal_log
    assert meta == {"k": "v"} and torch.equal(prep.x_mean, _prep(m.spec.in_features).x_mean)


def test_dataset_statistics_reproduce_the_stored_features_exactly() -> None:
    data = load_dataset("synthetic_regression", seed=4)
    prep = Preprocessing.of_dataset(data)
    assert prep.x_mean.dtype == torch.float64 and prep.y_std is not None
    assert data.test_rows is not None and len(data.test_rows) == len(data.x_test)


def test_errors_name_the_fix(tmp_path: Path) -> None:
    m = _trained_like("mlp")
    with pytest.raises(ShrinkNetsError, match="allowed: torchscript"):
        export_model(m, _prep(6), {}, tmp_path, formats=("pickle",))
    with pytest.raises(ShrinkNetsError, match="does not exist"):
        load_exported(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ShrinkNetsError, match="save_checkpoint"):
        load_exported(tmp_path / "junk.pt")
