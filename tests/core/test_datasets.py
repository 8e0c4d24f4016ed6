"""Dataset registry, bundled data, user files, splits and standardisation."""

from __future__ import annotations

import gzip
import io
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from shrinknets_core.datasets import (
    ENV_DATA_DIR,
    Dataset,
    list_datasets,
    load_dataset,
    split_indices,
)
from shrinknets_core.datasets._bundled import DATA_ROOT, load_arrays, read_verified
from shrinknets_core.errors import ConfigError, DatasetError

BUNDLED = {
    # name: (task, n_rows, n_features, n_outputs, image_shape, stand_in_for)
    "digits": ("classification", 1797, 64, 10, (1, 8, 8), None),
    "oes97": ("regression", 334, 263, 16, None, None),
    "scm20d": ("regression", 8966, 61, 16, None, "scm1d"),
    "mnist_5k": ("classification", 5000, 784, 10, (1, 28, 28), "gina_prior2"),
    "gas_drift_partial": ("classification", 6697, 128, 6, None, "gsadd"),
}


def _check_tensors(data: Dataset) -> None:
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.dtype == torch.float32 and x.shape[1] == data.n_features
    for y in (data.y_train, data.y_val, data.y_test):
        if data.task == "classification":
            assert y.dtype == torch.int64 and y.ndim == 1
            assert int(y.min()) >= 0 and int(y.max()) < data.n_outputs
        else:
            assert y.dtype == torch.float32 and y.shape[1] == data.n_outputs


# --- registry and bundled data -------------------------------------------------------


def test_list_datasets_is_static_and_complete() -> None:
    load_arrays.cache_clear()
    infos = {info.name: info for info in list_datasets()}
    assert load_arrays.cache_info().currsize == 0  # nothing was read
    assert set(infos) == {
        *BUNDLED, "synthetic_classification", "synthetic_regression", "scm1d", "gina_prior2"
    }
    assert infos["scm20d"].label == "scm20d (stand-in for scm1d)"
    assert "8 of 10 batches" in infos["gas_drift_partial"].label
    assert "stand-in for gsadd" in infos["gas_drift_partial"].label
    scm1d = infos["scm1d"]
    assert scm1d.requires_file and (scm1d.n_features, scm1d.n_outputs) == (280, 16)
    assert all(info.source and info.licence for info in infos.values())
    assert infos["oes97"].to_dict()["n_features"] == 263


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_dataset_loads_with_expected_shape(name: str) -> None:
    task, n_rows, n_features, n_outputs, image_shape, stand_in = BUNDLED[name]
    info = next(i for i in list_datasets() if i.name == name)
    assert (info.task, info.n_rows, info.n_features, info.n_outputs) == (
        task, n_rows, n_features, n_outputs
    )
    data = load_dataset(name)
    _check_tensors(data)
    assert (data.task, data.n_rows, data.n_features, data.n_outputs) == (
        task, n_rows, n_features, n_outputs
    )
    assert data.image_shape == image_shape and data.stand_in_for == stand_in
    if stand_in:
        assert f"stand-in for {stand_in}" in data.label
    if task == "classification":
        labels = torch.cat([data.y_train, data.y_val, data.y_test])
        assert torch.unique(labels).numel() == n_outputs


@pytest.mark.parametrize("name", ["mnist_5k", "scm20d"])
def test_big_bundled_datasets_load_fast_and_are_cached(name: str) -> None:
    load_arrays.cache_clear()
    start = time.perf_counter()
    load_dataset(name)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    load_dataset(name, seed=3)
    warm = time.perf_counter() - start
    assert cold < 2.0, f"{name} took {cold:.2f}s to load"
    assert warm < cold


def test_gas_drift_labels_follow_uci_numbering() -> None:
    x, y, names = load_arrays("gas_drift_partial")
    assert names == ("Ethanol", "Ethylene", "Ammonia", "Acetaldehyde", "Acetone", "Toluene")
    assert x.shape == (6697, 128)
    # batch1 starts with Ethanol rows (UCI class 1 -> code 0)
    assert y[0] == 0
    assert np.bincount(y).tolist()[:2] == [1316, 1664]  # Ethanol, Ethylene over 8 batches


def test_oes97_values_match_the_arff_file() -> None:
    x, y, _ = load_arrays("oes97")
    text = gzip.decompress((DATA_ROOT / "oes97" / "oes97.arff.gz").read_bytes()).decode()
    first_row = text.split("@data")[1].strip().splitlines()[0].split(",")
    assert x[0, :3].tolist() == [float(v) for v in first_row[:3]]
    assert y[0, -1] == float(first_row[-1])


def test_package_data_is_small_and_documented() -> None:
    files = sorted(p.relative_to(DATA_ROOT).as_posix() for p in DATA_ROOT.rglob("*") if p.is_file())
    folders = {"gas_drift_partial", "mnist_5k", "oes97", "scm20d"}
    assert {f.split("/")[0] for f in files} == folders
    for folder in folders:
        assert f"{folder}/README.md" in files and f"{folder}/SHA256SUMS" in files
        readme = (DATA_ROOT / folder / "README.md").read_text().lower()
        assert "source" in readme and ("licen" in readme)
        for line in (DATA_ROOT / folder / "SHA256SUMS").read_text().splitlines():
            assert len(read_verified(DATA_ROOT / folder, line.split()[1])) > 0
    assert sum((DATA_ROOT / f).stat().st_size for f in files) < 20 * 2**20


def test_checksum_mismatch_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "oes97"
    shutil.copytree(DATA_ROOT / "oes97", folder)
    assert read_verified(folder, "oes97.arff").startswith(b"@relation")
    packed = folder / "oes97.arff.gz"
    text = gzip.decompress(packed.read_bytes()).replace(b"@data", b"@data\n% tampered", 1)
    packed.write_bytes(gzip.compress(text))
    with pytest.raises(DatasetError, match=r"oes97\.arff\.gz: sha256 of the decompressed"):
        read_verified(folder, "oes97.arff")
    packed.unlink()
    with pytest.raises(DatasetError, match="bundled data file missing"):
        read_verified(folder, "oes97.arff")


def test_checksum_mismatch_of_a_shipped_gzip(tmp_path: Path) -> None:
    folder = tmp_path / "scm20d"
    shutil.copytree(DATA_ROOT / "scm20d", folder)
    data = bytearray((folder / "scm20d.csv.gz").read_bytes())
    data[-10] ^= 0xFF
    (folder / "scm20d.csv.gz").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"scm20d\.csv\.gz: sha256 of the file .* reinstall"):
        read_verified(folder, "scm20d.csv.gz")


def test_bundled_datasets_refuse_user_options() -> None:
    with pytest.raises(ConfigError, match="target_columns applies to user files only"):
        load_dataset("oes97", target_columns=3)
    with pytest.raises(ConfigError, match="regression dataset"):
        load_dataset("oes97", task="classification")
    with pytest.raises(ConfigError, match="only for the synthetic"):
        load_dataset("digits", n_samples=10)
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'.*digits"):
        load_dataset("nope")


def test_synthetic_generators_are_seeded_and_sized() -> None:
    a = load_dataset("synthetic_classification", n_samples=200, n_features=6, n_classes=4)
    b = load_dataset("synthetic_classification", n_samples=200, n_features=6, n_classes=4)
    assert a.n_rows == 200 and a.n_features == 6 and a.n_outputs == 4
    assert torch.equal(a.x_train, b.x_train)
    c = load_dataset("synthetic_classification", n_samples=200, n_features=6, data_seed=1)
    assert not torch.equal(a.x_train, c.x_train)
    r = load_dataset("synthetic_regression", n_samples=100, n_targets=3)
    _check_tensors(r)
    assert r.y_train.shape[1] == 3
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['n_clases'\]"):
        load_dataset("synthetic_classification", n_clases=3)
    with pytest.raises(ConfigError, match="n_samples=5 is out of range; allowed 10"):
        load_dataset("synthetic_regression", n_samples=5)


# --- splits and standardisation ----------------------------------------------------


def test_splits_are_deterministic_disjoint_and_complete() -> None:
    labels = np.repeat(np.arange(3), [50, 30, 20])
    options = {"val_fraction": 0.2, "test_fraction": 0.1, "labels": labels}
    train, val, test = split_indices(100, seed=7, **options)  # type: ignore[arg-type]
    again = split_indices(100, seed=7, **options)  # type: ignore[arg-type]
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [5, 3, 2]  # stratified
    other = split_indices(100, seed=8, val_fraction=0.2, test_fraction=0.1, labels=labels)
    assert not np.array_equal(test, other[2])


def test_split_fractions_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"val_fraction=1\.5 is out of range"):
        split_indices(10, seed=0, val_fraction=1.5, test_fraction=0.1)
    with pytest.raises(ConfigError, match="keep the sum"):
        load_dataset("digits", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DatasetError, match="only 2 rows"):
        split_indices(2, seed=0, val_fraction=0.4, test_fraction=0.4)


def test_same_seed_gives_same_tensors() -> None:
    a, b = load_dataset("oes97", seed=1), load_dataset("oes97", seed=1)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_val, b.y_val)
    c = load_dataset("oes97", seed=2)
    assert not torch.equal(a.x_test, c.x_test)


def test_standardisation_uses_training_rows_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    y = rng.normal(size=60) * 4 + 100
    path = tmp_path / "table.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,c,t", comments="")
    data = load_dataset(path, task="regression", seed=3)
    train, _, test = split_indices(60, seed=3, val_fraction=0.15, test_fraction=0.15)
    assert data.x_mean is not None and data.x_std is not None
    np.testing.assert_allclose(data.x_mean.numpy(), x[train].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.x_std.numpy(), x[train].std(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.x_train.mean(0).numpy(), 0.0, atol=1e-5)
    expected_test = (x[test] - x[train].mean(axis=0)) / x[train].std(axis=0)
    np.testing.assert_allclose(data.x_test.numpy(), expected_test, rtol=1e-4, atol=1e-5)
    assert data.y_mean is not None and data.y_std is not None
    np.testing.assert_allclose(float(data.y_mean[0]), y[train].mean(), rtol=1e-5)
    np.testing.assert_allclose(
        data.y_test[:, 0].numpy(), (y[test] - y[train].mean()) / y[train].std(), rtol=1e-4
    )


# --- user files: round trips ---------------------------------------------------------


def _table(n: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 5))


def test_csv_round_trip_with_named_and_indexed_targets(tmp_path: Path) -> None:
    values = _table()
    path = tmp_path / "data.csv"
    np.savetxt(path, values, delimiter=",", header="f1,f2,f3,t1,t2", comments="")
    by_name = load_dataset(path, target_columns=["t1", "t2"], val_fraction=0, test_fraction=0)
    assert (by_name.n_features, by_name.n_outputs, by_name.task) == (3, 2, "regression")
    assert by_name.y_mean is not None and by_name.y_std is not None
    restored = by_name.y_train.double() * by_name.y_std.double() + by_name.y_mean.double()
    np.testing.assert_allclose(restored.numpy(), values[:, 3:], rtol=1e-5, atol=1e-5)
    by_index = load_dataset(path, target_columns=[0], seed=1)
    assert by_index.n_features == 4 and by_index.n_outputs == 1
    by_count = load_dataset(path, target_columns=2)
    assert by_count.n_features == 3 and by_count.name == "data"
    named = load_dataset("my_table", path=path, target_columns=2)
    assert named.name == "my_table" and named.label == "my_table (from data.csv)"
    assert torch.equal(named.x_test, by_count.x_test)


def test_csv_gz_without_header_and_text_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = [
        ",".join([*(f"{v:.4f}" for v in rng.normal(size=3)), ["cat", "dog", "owl"][i % 3]])
        for i in range(30)
    ]
    path = tmp_path / "animals.csv.gz"
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    data = load_dataset(path)
    assert data.task == "classification" and data.class_names == ("cat", "dog", "owl")
    assert data.n_features == 3 and data.n_outputs == 3
    _check_tensors(data)


def test_tab_separated_csv_and_gzipped_arff(tmp_path: Path) -> None:
    values = _table(20)
    np.savetxt(tmp_path / "tabs.csv", values, delimiter="\t", header="a\tb\tc\td\te", comments="")
    assert load_dataset(tmp_path / "tabs.csv", target_columns="e").n_features == 4
    arff = "@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute t numeric\n@data\n"
    arff += "".join(f"{i},{i * 2},{i * 0.1}\n" for i in range(20))
    (tmp_path / "r.arff.gz").write_bytes(gzip.compress(arff.encode()))
    data = load_dataset(tmp_path / "r.arff.gz", task="regression")
    assert data.name == "r" and (data.n_features, data.n_outputs) == (2, 1)


def test_integer_target_is_inferred_as_classes(tmp_path: Path) -> None:
    values = _table(60)
    values[:, -1] = np.arange(60) % 4 + 1  # labels 1..4 become codes 0..3
    path = tmp_path / "ints.csv"
    np.savetxt(path, values, delimiter=",")
    data = load_dataset(path)
    assert data.task == "classification" and data.class_names == ("1", "2", "3", "4")
    assert load_dataset(path, task="regression").task == "regression"


def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    np.savez(tmp_path / "a.npz", x=x, y=y)
    data = load_dataset(tmp_path / "a.npz", target_columns=[0, 2])
    assert (data.n_features, data.n_outputs) == (4, 2)
    images = rng.normal(size=(40, 1, 4, 4))
    np.savez_compressed(tmp_path / "img.npz", X=images, y=np.arange(40) % 2)
    img = load_dataset(tmp_path / "img.npz")
    assert img.image_shape == (1, 4, 4) and img.n_features == 16 and img.task == "classification"
    words = np.array(["up", "down"] * 15)
    np.savez(tmp_path / "words.npz", x=x, y=words)
    labelled = load_dataset(tmp_path / "words.npz")
    assert labelled.class_names == ("down", "up") and labelled.task == "classification"


def test_arff_round_trip_with_nominal_class(tmp_path: Path) -> None:
    lines = ["% comment", "@relation toy", "@attribute 'a b' numeric", "@attribute c REAL",
             "@attribute class {'no', 'yes'}", "@data"]
    lines += [f"{i * 0.5},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(20)]
    path = tmp_path / "toy.arff"
    path.write_text("\n".join(lines) + "\n")
    data = load_dataset(path)
    assert data.task == "classification" and data.class_names == ("no", "yes")
    assert data.n_features == 2
    assert load_dataset(path, target_columns=["c"], task="regression").n_outputs == 1


def _mulan_arff(n_rows: int, n_features: int, n_targets: int) -> str:
    rng = np.random.default_rng(3)
    header = ["@relation scm1d"]
    header += [f"@attribute f{i} numeric" for i in range(n_features)]
    header += [f"@attribute t{i} numeric" for i in range(n_targets)]
    values = rng.normal(size=(n_rows, n_features + n_targets))
    rows = [",".join(f"{v:.3f}" for v in row) for row in values]
    return "\n".join([*header, "@data", *rows]) + "\n"


def test_user_scm1d_file_loads_by_path_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scm1d.arff").write_text(_mulan_arff(30, 280, 16))
    data = load_dataset("scm1d", path=tmp_path / "scm1d.arff")
    assert (data.n_features, data.n_outputs, data.task) == (280, 16, "regression")
    assert "not byte-identical to the Mulan file" in data.source
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    assert load_dataset("scm1d").n_features == 280


def test_user_scm1d_with_wrong_shape_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "scm1d.arff").write_text(_mulan_arff(30, 20, 16))
    with pytest.raises(DatasetError, match="has 20 features and 16 targets, but scm1d has 280"):
        load_dataset("scm1d", path=tmp_path / "scm1d.arff")


def test_missing_user_files_name_the_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    expected = r"'scm1d'.*missing.*SHRINKNETS_DATA_DIR is not set.*'scm20d'"
    with pytest.raises(DatasetError, match=expected):
        load_dataset("scm1d")
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(DatasetError, match=rf"in {ENV_DATA_DIR}=.*gina_prior2\.arff.*'mnist_5k'"):
        load_dataset("gina_prior2")
    with pytest.raises(DatasetError, match=r"not found at .*nowhere\.arff \(the path given\)"):
        load_dataset("scm1d", path=tmp_path / "nowhere.arff")


# --- malformed files -------------------------------------------------------------------


def _arff(*declarations: str, rows: str) -> str:
    attributes = "".join(f"@attribute {d}\n" for d in declarations)
    return f"@relation r\n{attributes}@data\n{rows}"


MALFORMED = [
    ("empty.csv", "", "file is empty"),
    ("blank.csv", "\n  \n", "file is empty"),
    ("header_only.csv", "a,b,c\n", "header but no data rows"),
    ("nan.csv", "a,b,t\n1,2,3\n4,nan,6\n",
     r"missing value \(NaN\) at row 2 \(line 3\), column 2 \('b'\)"),
    ("inf.csv", "1,2,3\n4,5,inf\n", r"infinite value at row 2 \(line 2\), column 3"),
    ("text.csv", "a,b,t\n1,2,3\n4,oops,6\n",
     r"text 'oops' in a numeric column at row 2 \(line 3\), column 2 \('b'\)"),
    ("hole.csv", "a,b,t\n1,,3\n", r"missing value '' at row 1 \(line 2\), column 2"),
    ("ragged.csv", "a,b,t\n1,2,3\n4,5\n", r"row 2 \(line 3\) has 2 columns, expected 3"),
    ("gap.csv", "1,2,3\n\n4,5,6\n", "blank line at line 2"),
    ("one.csv", "a\n1\n2\n", "at least one feature and one target"),
    ("sparse.arff", _arff("a numeric", "b numeric", rows="{0 1, 1 2}\n"), "sparse ARFF"),
    ("str.arff", _arff("a numeric", "s string", rows="1,'x'\n"), "type 'string'"),
    ("nominal.arff", _arff("a numeric", "c {x,y}", rows="1,x\n2,z\n"),
     r"value 'z' at row 2 \(line 6\).*not one of the declared values \['x', 'y'\]"),
    ("missing.arff", _arff("a numeric", "b numeric", rows="1,2\n?,3\n"),
     r"missing value '\?' at row 2 \(line 6\), column 1 \('a'\)"),
    ("nodata.arff", "@relation r\n@attribute a numeric\n", "no @data line"),
    ("data.txt", "1,2\n", "unsupported file type"),
]


@pytest.mark.parametrize(("name", "content", "message"), MALFORMED)
def test_malformed_text_files_give_clear_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(path)
    assert name in str(info.value)


def test_limits_on_rows_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    np.savetxt(path, _table(50), delimiter=",")
    with pytest.raises(DatasetError, match="has 50 rows, over the limit max_rows=20; subsample"):
        load_dataset(path, max_rows=20)
    with pytest.raises(DatasetError, match="over the limit max_bytes=100; use a smaller file"):
        load_dataset(path, max_bytes=100)
    packed = tmp_path / "bomb.csv.gz"
    packed.write_bytes(gzip.compress(b"1,2\n" * 100_000))
    with pytest.raises(DatasetError, match="decompresses to more than max_bytes=10000"):
        load_dataset(packed, max_bytes=10_000)
    with pytest.raises(DatasetError, match="has 50 rows, over the limit max_rows=10"):
        load_dataset(path, max_rows=10)
    with pytest.raises(DatasetError, match="oes97: has 334 rows, over the limit max_rows=10"):
        load_dataset("oes97", max_rows=10)


def test_target_column_errors(tmp_path: Path) -> None:
    path = tmp_path / "named.csv"
    np.savetxt(path, _table(), delimiter=",", header="f1,f2,f3,t1,t2", comments="")
    with pytest.raises(ConfigError, match=r"column 'zzz' not found in .*named\.csv"):
        load_dataset(path, target_columns=["zzz"])
    with pytest.raises(ConfigError, match="index 9 is out of range"):
        load_dataset(path, target_columns=[9])
    with pytest.raises(ConfigError, match=r"target_columns=5 \(a count .*\) must be in 1\.\.4"):
        load_dataset(path, target_columns=5)
    with pytest.raises(ConfigError, match="leave at least one feature"):
        load_dataset(path, target_columns=[0, 1, 2, 3, 4])
    with pytest.raises(ConfigError, match="needs one target column"):
        load_dataset(path, target_columns=2, task="classification")
    labels = tmp_path / "labels.csv"
    labels.write_text("a,b\n1,x\n2,y\n3,x\n4,y\n5,x\n6,y\n7,x\n")
    with pytest.raises(DatasetError, match=r"target column holds text 'x'.*task='classification'"):
        load_dataset(labels, task="regression")


def test_gzip_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match=r"broken\.csv\.gz: not a valid gzip file"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset(tmp_path / "absent.csv")


def _npy_with_lying_header(true_shape: int, claimed: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(true_shape))
    raw = buffer.getvalue()
    old, new = f"({true_shape},), }}".encode(), f"({claimed},), }}".encode()
    padded = old + b" " * (len(new) - len(old))
    assert padded in raw
    return raw.replace(padded, new)


def test_npz_errors(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, x=np.zeros((2000, 500)), y=np.zeros(2000))
    assert bomb.stat().st_size < 100_000
    expected = (
        r"bomb\.npz: archive declares \d+ uncompressed bytes, over the limit max_bytes=1000000;"
    )
    with pytest.raises(DatasetError, match=expected):
        load_dataset(bomb, max_bytes=1_000_000)
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w") as archive:
        archive.writestr("x.npy", _npy_with_lying_header(10, 10**9))
        archive.writestr("y.npy", _npy_with_lying_header(10, 10))
    with pytest.raises(DatasetError, match=r"array 'x\.npy' declares shape \(1000000000,\)"):
        load_dataset(liar)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.zeros((4, 2)), y=np.array([{"a": 1}] * 4, dtype=object))
    with pytest.raises(DatasetError, match="holds Python objects"):
        load_dataset(pickled)
    keys = tmp_path / "keys.npz"
    np.savez(keys, features=np.zeros((4, 2)), y=np.zeros(4))
    expected = r"needs arrays 'x' \(or 'X'\) and 'y', found \['features', 'y'\]"
    with pytest.raises(DatasetError, match=expected):
        load_dataset(keys)
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=np.zeros((4, 2)), y=np.zeros(3))
    with pytest.raises(DatasetError, match="x has 4 rows but y has 3"):
        load_dataset(rows)
    nan = tmp_path / "nan.npz"
    x = np.zeros((10, 2))
    x[4, 1] = np.nan
    np.savez(nan, x=x, y=np.arange(10.0))
    with pytest.raises(DatasetError, match=r"missing value \(NaN\) at row 5, column 2"):
        load_dataset(nan)
    not_zip = tmp_path / "plain.npz"
    not_zip.write_bytes(b"hello")
    with pytest.raises(DatasetError, match=r"not a valid \.npz"):
        load_dataset(not_zip)


def test_a_gzip_bomb_is_refused_holding_one_chunk(tmp_path: Path) -> None:
    import tracemalloc

    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        line = b"0,0,0,0\n" * 4096
        for _ in range(2048):  # 64 MiB of text in about 64 kB of gzip
            handle.write(line)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="decompresses to more than"):
            load_dataset(bomb, max_bytes=32 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"held {peak} bytes while refusing the bomb"
