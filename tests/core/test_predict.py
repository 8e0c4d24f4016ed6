"""predict_csv: the columns of a CSV file fed to an exported model, scored when it can be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from shrinknets_core.errors import DatasetError
from shrinknets_core.export import Exported, Preprocessing, export_model, load_exported
from shrinknets_core.export.predict import predict_csv
from shrinknets_core.network.models import ModelSpec, build_model

META: dict[str, Any] = {
    "task": "classification", "n_features": 3, "n_outputs": 2,
    "feature_names": ["a", "b", "c"], "target_names": ["label"], "class_names": ["no", "yes"],
}


def _model(tmp_path: Path, meta: dict[str, Any]) -> Exported:
    m = build_model(ModelSpec(kind="mlp", in_features=3, out_features=meta["n_outputs"],
                              hidden=(4,)), seed=0).eval()
    prep = Preprocessing(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    if meta["task"] == "regression":
        prep = Preprocessing(prep.x_mean, prep.x_std, torch.zeros(meta["n_outputs"]).double(),
                             torch.ones(meta["n_outputs"]).double())
    files = export_model(m, prep, meta, tmp_path, formats=("torchscript",))
    return load_exported(files["torchscript"])


def test_header_selects_features_by_name_and_scores_labels(tmp_path: Path) -> None:
    model = _model(tmp_path, META)
    rows = [(0.5, -1.0, 2.0), (1.5, 0.25, -3.0), (-2.0, 1.0, 0.0)]
    with torch.no_grad():
        logits = model.predict(torch.tensor(rows, dtype=torch.float64))
    truth = [META["class_names"][i] for i in logits.argmax(1).tolist()]
    truth[2] = "no" if truth[2] == "yes" else "yes"  # one wrong label: accuracy 2/3
    # columns shuffled and an extra one: selected by name
    text = "c,label,extra,b,a\n" + "".join(
        f"{c},{lab},9,{b},{a}\n" for (a, b, c), lab in zip(rows, truth, strict=True)
    )
    (tmp_path / "rows.csv").write_text(text)
    result = predict_csv(model, tmp_path / "rows.csv")
    assert result.n_rows == 3 and result.labels is not None
    assert result.labels[:2] == truth[:2] and result.accuracy == pytest.approx(2 / 3)


def test_headerless_rows_with_and_without_targets(tmp_path: Path) -> None:
    model = _model(tmp_path, {**META, "feature_names": None})
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    assert predict_csv(model, tmp_path / "x.csv").accuracy is None
    (tmp_path / "xy.csv").write_text("1,2,3,yes\n4,5,6,no\n")
    assert predict_csv(model, tmp_path / "xy.csv").accuracy is not None
    (tmp_path / "bad.csv").write_text("1,2\n3,4\n")
    with pytest.raises(DatasetError, match="3 feature columns"):
        predict_csv(model, tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("1,2,3\n1,2,x\n")
    with pytest.raises(DatasetError, match="not a number"):
        predict_csv(model, tmp_path / "text.csv")


def test_regression_reports_mse_in_data_units(tmp_path: Path) -> None:
    meta = {**META, "task": "regression", "n_outputs": 2, "class_names": None,
            "target_names": ["y1", "y2"]}
    model = _model(tmp_path, meta)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]], dtype=torch.float64)
    with torch.no_grad():
        out = model.predict(x)
    (tmp_path / "r.csv").write_text("a,b,c,y1,y2\n" + "".join(
        f"{a},{b},{c},{p + 1},{q}\n" for (a, b, c), (p, q) in zip(x.tolist(), out.tolist(),
                                                                   strict=True)
    ))
    result = predict_csv(model, tmp_path / "r.csv")
    assert result.values is not None and result.mse == pytest.approx(0.5)
