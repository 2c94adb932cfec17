"""Users' data files: every way a file can be broken is refused with a clear message, and a
valid one becomes a task with leak-free splits, training-only normalisation and baselines."""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.errors import DatasetError, SpecError
from service.tasks import (
    DatasetTask,
    SequenceDatasetOptions,
    SeriesDatasetOptions,
    StoredDataset,
    format_of,
    parse_dataset,
    parse_task_options,
)


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def sequences(n: int = 30, steps: int = 6, features: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, steps, features)).astype(np.float32)


def labels(n: int = 30, classes: int = 3) -> np.ndarray:
    return np.arange(n) % classes


def csv_bytes(rows: int = 40, *, header: str = "t,a,b", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [header] + [f"{i},{rng.normal():.4f},{i * 0.5 + rng.normal():.4f}"
                        for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def csv_cell(value: str, row: int = 3) -> bytes:
    """A valid CSV (header t,a,b) whose column a holds ``value`` in data row ``row``."""
    lines = csv_bytes().decode().splitlines()
    t, _, b = lines[row + 1].split(",")
    lines[row + 1] = f"{t},{value},{b}"
    return ("\n".join(lines) + "\n").encode()


def refused(content: bytes, match: str, **kwargs: Any) -> None:
    kwargs.setdefault("format", "npz")
    with pytest.raises(DatasetError, match=match):
        parse_dataset(content, **kwargs)


# -- NPZ refusals --------------------------------------------------------------------------


class _Exploit:
    """Would create a file if it were ever unpickled."""

    marker: Path

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def test_pickled_objects_are_refused_never_unpickled(tmp_path: Path) -> None:
    exploit = _Exploit()
    exploit.marker = tmp_path / "unpickled"
    objects = np.empty(2, dtype=object)
    objects[:] = [exploit, exploit]
    buffer = io.BytesIO()
    np.savez(buffer, X=sequences(2), y=objects)
    refused(buffer.getvalue(), "Python object arrays")
    assert not exploit.marker.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"certainly not a zip file", "not an NPZ archive"),
        (b"a,b\n1,2\n", "not an NPZ archive"),
        (b"", "not an NPZ archive"),
    ],
)
def test_not_an_npz_archive(content: bytes, match: str) -> None:
    refused(content, match)


def test_zip_with_other_members_and_damaged_archives() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", b"not really an array")
        archive.writestr("notes.txt", "hello")
    refused(buffer.getvalue(), "non-array members")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", b"not really an array")
        archive.writestr("y.npy", b"nor this")
    refused(buffer.getvalue(), "member X.npy of the NPZ file is not a .npy array")
    truncated = npz(X=sequences(), y=labels())[:-40]
    refused(truncated, "not an NPZ archive|damaged")


def test_archive_that_unpacks_beyond_the_limit() -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((100, 100, 100), np.float32), y=np.zeros(100))
    assert len(buffer.getvalue()) < 100_000
    refused(buffer.getvalue(), "unpacks to 4,001,056 bytes, over the limit of 1,000,000",
            max_unpacked_bytes=1_000_000)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"y": labels()}, "no array 'X'"),
        ({"X": sequences()}, "no array 'y'"),
        ({"X": sequences(), "y": labels(), "weights": np.ones(30)}, "unknown arrays"),
        ({"X": np.zeros(30), "y": labels()}, r"X must be \(N, T, F\)"),
        ({"X": np.zeros((30, 4)), "y": labels()}, r"X must be \(N, T, F\)"),
        ({"X": np.zeros((30, 0, 2)), "y": labels()}, "empty dimension"),
        ({"X": np.full((30, 3, 2), "a"), "y": labels()}, "X must hold numbers"),
        ({"X": sequences(), "y": labels(29)}, "one row per sequence"),
        ({"X": sequences(), "y": labels(), "lengths": np.full(30, 7)}, "past the 6 steps"),
        ({"X": sequences(), "y": labels(), "lengths": np.zeros(30, np.int64)}, "at least 1"),
        ({"X": sequences(), "y": labels(), "lengths": np.full(30, 2.0)}, "integer array"),
        ({"X": np.zeros((50, 2)), "y": labels(), "lengths": np.full(30, 2)}, "add up to 60"),
    ],
)
def test_wrong_shapes(arrays: dict[str, np.ndarray], match: str) -> None:
    refused(npz(**arrays), match)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_nan_or_infinite_values_in_x(bad: float) -> None:
    x = sequences().astype(np.float64)
    x[4, 2, 1] = bad
    refused(npz(X=x, y=labels()), "sample 4, step 2, feature 1")


def test_nan_padding_past_the_lengths_is_fine_and_zeroed() -> None:
    x = sequences()
    lengths = np.full(30, 6)
    lengths[::2] = 3
    x[::2, 3:] = np.nan  # the UEA convention
    parsed = parse_dataset(npz(X=x, y=labels(), lengths=lengths), format="npz")
    assert parsed.kind == "classification"
    assert np.isfinite(parsed.x).all() and not parsed.x[::2, 3:].any()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("y", "kind", "match"),
    [
        (labels().astype(np.float64) + 0.5, "classification", "integers or strings, got floats"),
        (labels().astype(bool), None, "integers or strings"),
        (np.stack([labels(), labels()], 1), "classification", r"one per sequence \(N,\)"),
        (np.zeros(30, np.int64), None, "at least 2 classes"),
        (np.array(["a"] * 30), "regression", "must be numbers"),
    ],
)
def test_labels_of_the_wrong_type(y: np.ndarray, kind: str | None, match: str) -> None:
    refused(npz(X=sequences(), y=y), match, kind=kind)


def test_regression_targets_with_nan() -> None:
    y = np.ones(30)
    y[7] = np.nan
    refused(npz(X=sequences(), y=y), "sample 7")


def test_too_few_samples_per_class_for_the_split() -> None:
    y = labels()
    y[:2] = 9  # class 9 has 2 samples: it cannot reach train, validation and test
    refused(npz(X=sequences(), y=y), r"at least 3.*'9' \(2\)")


def test_given_split_must_be_valid() -> None:
    x, y = sequences(), labels()
    split = np.array(["train"] * 20 + ["val"] * 5 + ["test"] * 5)
    refused(npz(X=x, y=y, split=np.array(["train"] * 25 + ["dev"] * 5)), "allowed values")
    refused(npz(X=x, y=y, split=np.array(["val"] * 25 + ["test"] * 5)), "no 'train' sample")
    refused(npz(X=x, y=y, split=np.arange(30)), "strings")
    unseen = y.copy()
    unseen[25:] = 7  # class 7 only in validation and test
    refused(npz(X=x, y=unseen, split=split), "no training sample")


def test_npz_cannot_be_forecasting_and_csv_cannot_be_classification() -> None:
    refused(npz(X=sequences(), y=labels()), "CSV time series", kind="forecasting")
    refused(csv_bytes(), "upload classification data as NPZ", format="csv",
            kind="classification")


# -- CSV refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "options", "match"),
    [
        (npz(X=sequences(), y=labels()), {}, "binary data|not UTF-8"),
        (b"t,a\n" + b"\xff\xfe1,2\n" * 30, {}, "not UTF-8"),
        (b"", {}, "empty"),
        (b"t,a\n" + b"1,2\n" * 5, {"target": "a"}, "at least 20"),
        (csv_bytes(), {}, r"name the target column: one of \['t', 'a', 'b'\]"),
        (csv_bytes(), {"target": "c"}, "not a value column"),
        (csv_bytes(), {"target": "a", "time_column": "time"}, "not a column"),
        (csv_bytes(header="t,a,a"), {"target": "a"}, "name every column once"),
        (csv_bytes().replace(b"\n3,", b"\n3,,", 1), {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\) has 4 fields, the header has 3: 1 more"),
        (csv_bytes().replace(b"\n3,", b"\n3\n", 1).replace(b"\n3\n", b"\n3,1.0\n", 1),
         {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\) has 2 fields, the header has 3: no value for column 'b'"),
        (csv_bytes().replace(b"\n3,", b"\n3,oops", 1), {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\), column 'a': 'oops.*' is not a number"),
        (csv_cell("nan"), {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\), column 'a': NaN or infinite"),
        (csv_cell("-Infinity"), {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\), column 'a': NaN or infinite"),
        (csv_cell(""), {"target": "a", "time_column": "t"},
         r"line 5 \(data row 4\), column 'a': missing value"),
        (csv_cell("NA", row=9), {"target": "a", "time_column": "t"},
         r"line 11 \(data row 10\), column 'a': 'NA' is not a number"),
        (csv_bytes().replace(b"\n", b"\n\n", 3).replace(b"\n3,", b"\n3,oops", 1),
         {"target": "a", "time_column": "t"},
         r"line 8 \(data row 4\), column 'a'"),  # blank lines keep the editor's numbering
        (csv_bytes().replace(b"\n5,", b"\n2,", 1), {"target": "a", "time_column": "t"},
         "must increase strictly; line 7"),
        (b'a,b\n"1,2\n' + b"1,2\n" * 30, {"target": "a"}, "not valid CSV|fields|not a number"),
    ],
)
def test_broken_csv(content: bytes, options: dict[str, str], match: str) -> None:
    refused(content, match, format="csv", **options)


def series_csv(times: list[str]) -> bytes:
    rows = ["when,value"] + [f"{t},{i * 1.5}" for i, t in enumerate(times)]
    return "\n".join(rows).encode()


@pytest.mark.parametrize(
    ("times", "frequency"),
    [
        ([f"{2001 + i // 12}-{i % 12 + 1:02d}" for i in range(30)], "monthly"),
        ([str(1700 + i) for i in range(30)], "yearly"),
        ([f"{2001 + i // 4}-Q{i % 4 + 1}" for i in range(30)], "quarterly"),
        ([f"2020-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(30)],
         "irregular (most often daily)"),
        ([f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00" for i in range(30)], "hourly"),
        ([f"2020-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00" for i in range(30)], "hourly"),
        ([f"2020/{1 + i // 28}/{1 + i % 28}" for i in range(28)] + ["2020/2/1", "2020/2/2"],
         "irregular (most often daily)"),
        ([str(i * 0.5) for i in range(30)], "step 0.5"),
        ([str(990 + 10 * i) for i in range(30)], "step 10"),  # an index past 999, not years
    ],
)
def test_csv_time_column_forms_and_their_frequency(times: list[str], frequency: str) -> None:
    parsed = parse_dataset(series_csv(times), format="csv", time_column="when")
    assert parsed.meta()["frequency"] == frequency
    assert parsed.meta()["time_range"] == [times[0], times[-1]]


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([f"{2001 + i // 12}-{i % 12 + 1:02d}" for i in range(30)][::-1],
         r"must increase strictly; line 3 \('2003-05'\) does not come after '2003-06'"),
        ([f"{i + 1:02d}/01/2001" for i in range(30)], "ambiguous; write them year first"),
        (["2001-01"] * 5 + ["2001-06-01"] + [f"2002-{i:02d}" for i in range(1, 25)],
         "mixes forms: line 7"),
        (["2001-13"] + [f"2002-{i:02d}" for i in range(1, 30)], "line 2: '2001-13' is not a time"),
        (["2020-01-01T00:00+00:00"] + [f"2020-01-{d:02d}" for d in range(2, 31)],
         "with and without a time zone"),
    ],
)
def test_csv_time_column_refusals_name_the_line(times: list[str], match: str) -> None:
    refused(series_csv(times), match, format="csv", time_column="when")


def test_csv_value_columns_beside_the_target_are_covariates() -> None:
    # The target follows column `lead` one step later: only the covariate makes it predictable.
    rng = np.random.default_rng(0)
    lead = rng.normal(size=60)
    target = np.concatenate([[0.0], lead[:-1]])
    rows = ["t,target,lead"] + [f"{i},{target[i]:.6f},{lead[i]:.6f}" for i in range(60)]
    task = stored("\n".join(rows).encode(), "csv", target="target", time_column="t")
    assert task.data.meta()["covariates"] == ["lead"]
    data = task.load(parse_task_options(task, {"window": 3}), seed=0)
    assert data.input_size == 2 and data.train.x.shape[2] == 2
    prep = data.preprocessing
    assert prep["columns"] == ["target", "lead"] and prep["target_column"] == "target"
    # The window's last step holds the covariate of the row before the target: it carries y.
    lead_scaled = data.train.x[:, -1, 1].double()
    y_units = data.train.y[:, 0].double() * prep["target"]["std"][0] + prep["target"]["mean"][0]
    lead_units = lead_scaled * prep["input"]["std"][1] + prep["input"]["mean"][1]
    assert torch.allclose(lead_units, y_units, atol=1e-5)


def test_csv_time_column_may_hold_iso_dates() -> None:
    rows = ["date,value"] + [f"2020-01-{d:02d},{d * 1.5}" for d in range(1, 29)]
    parsed = parse_dataset("\n".join(rows).encode(), format="csv", time_column="date")
    assert parsed.kind == "forecasting" and parsed.meta()["time_range"] == [
        "2020-01-01", "2020-01-28"]
    rows[5], rows[6] = rows[6], rows[5]
    refused("\n".join(rows).encode(), "must increase strictly", format="csv",
            time_column="date")


def test_format_from_name_or_declaration() -> None:
    assert format_of("data.NPZ", None) == "npz" and format_of("x.csv", None) == "csv"
    assert format_of("whatever.bin", "csv") == "csv"
    with pytest.raises(DatasetError, match="cannot tell the format"):
        format_of("data.bin", None)
    with pytest.raises(DatasetError, match="valid formats are: npz, csv"):
        format_of("data.npz", "parquet")


# -- data set tasks ------------------------------------------------------------------------


def stored(content: bytes, fmt: str = "npz", **options: Any) -> DatasetTask:
    return DatasetTask(StoredDataset(id=1, name="d", format=fmt,  # type: ignore[arg-type]
                                     sha256=hashlib.sha256(content).hexdigest(),
                                     content=content, parse_options=options))


def test_classification_split_is_stratified_and_normalised_on_train() -> None:
    x = sequences(60, steps=5, features=3) * 4 + 10
    task = stored(npz(X=x, y=labels(60, 3)))
    assert task.kind == "classification" and task.allows_bidirectional
    options = parse_task_options(task, {})
    data = task.load(options, seed=0)
    assert (data.train.n, data.val.n, data.test.n) == (42, 9, 9)
    for split in (data.train, data.val, data.test):
        assert torch.bincount(split.y, minlength=3).min() >= 3
    flat = data.train.x.reshape(-1, 3)
    assert torch.allclose(flat.mean(0), torch.zeros(3), atol=1e-5)
    assert not torch.allclose(data.test.x.reshape(-1, 3).mean(0), torch.zeros(3), atol=1e-3)
    baseline = task.baselines(options)["accuracy"]
    assert baseline.name == "majority_class" and baseline.value == pytest.approx(1 / 3)
    other = task.load(parse_task_options(task, {"split_seed": 1}), seed=0)
    assert not torch.equal(other.test.x, data.test.x)


def test_ragged_layout_equals_padded_layout() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(2, 7, size=30)
    padded = np.zeros((30, 6, 2), np.float32)
    rows = []
    for i, n in enumerate(lengths):
        seq = rng.normal(size=(n, 2)).astype(np.float32)
        padded[i, :n] = seq
        rows.append(seq)
    ragged = stored(npz(X=np.concatenate(rows), lengths=lengths, y=labels()))
    padded_task = stored(npz(X=padded, lengths=lengths, y=labels()))
    a = ragged.load(parse_task_options(ragged, {}), seed=0)
    b = padded_task.load(parse_task_options(padded_task, {}), seed=0)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.lengths, b.train.lengths)


def test_given_split_is_kept_and_fractions_refused() -> None:
    split = np.array(["train"] * 20 + ["val"] * 4 + ["test"] * 6)
    task = stored(npz(X=sequences(), y=labels(), split=split))
    data = task.load(parse_task_options(task, {}), seed=0)
    assert (data.train.n, data.val.n, data.test.n) == (20, 4, 6)
    assert "carved" not in task.data.meta()
    with pytest.raises(SpecError, match="brings its own 'val' part"):
        parse_task_options(task, {"val_fraction": 0.2})


def test_train_test_split_gets_validation_carved_from_train_by_class() -> None:
    # An archive's train/test split: the test part stays as given, val comes out of train.
    x, y = sequences(60, steps=4, features=1), labels(60, 3)
    x[:, 0, 0] = np.arange(60)  # each sample's id, to follow it through the split
    split = np.array(["train"] * 40 + ["test"] * 20)
    task = stored(npz(X=x, y=y, split=split))
    meta = task.data.meta()
    assert meta["split_sizes"] == {"train": 40, "val": 0, "test": 20}
    assert "val_fraction" in meta["carved"]["val"] and "stratified" in meta["carved"]["val"]

    def ids(part: Any, mean: float, std: float) -> set[int]:
        return {round(float(v) * std + mean) for v in part.x[:, 0, 0]}

    options = parse_task_options(task, {"val_fraction": 0.25, "split_seed": 3})
    data = task.load(options, seed=0)
    assert (data.train.n, data.val.n, data.test.n) == (30, 10, 20)
    # Stratified: the 14, 13 and 13 training samples of the 3 classes each give a quarter.
    assert torch.bincount(data.val.y, minlength=3).tolist() == [4, 3, 3]
    prep = data.preprocessing["input"]
    mean, std = prep["mean"][0], prep["std"][0]
    assert ids(data.test, mean, std) == set(range(40, 60))
    assert ids(data.train, mean, std) | ids(data.val, mean, std) == set(range(40))
    again = task.load(options, seed=5)  # the split follows split_seed, not the study seed
    assert torch.equal(again.val.x, data.val.x)
    other = task.load(parse_task_options(task, {"val_fraction": 0.25}), seed=0)
    assert not torch.equal(other.val.x, data.val.x)
    with pytest.raises(SpecError, match="brings its own 'test' part"):
        parse_task_options(task, {"test_fraction": 0.2})


def test_train_val_split_gets_test_carved_and_regression_is_random() -> None:
    x = sequences(40)
    y = np.random.default_rng(0).normal(size=40).astype(np.float32)
    task = stored(npz(X=x, y=y, split=np.array(["train"] * 30 + ["val"] * 10)))
    assert task.kind == "regression" and list(task.data.meta()["carved"]) == ["test"]
    data = task.load(parse_task_options(task, {"test_fraction": 0.2}), seed=0)
    assert (data.train.n, data.val.n, data.test.n) == (24, 10, 6)
    only_train = stored(npz(X=x, y=y, split=np.array(["train"] * 40)))
    data = only_train.load(parse_task_options(only_train, {}), seed=0)
    assert (data.train.n, data.val.n, data.test.n) == (28, 6, 6)


def test_split_that_cannot_be_carved_is_refused_naming_the_class() -> None:
    y = labels(30, 3)
    split = np.array(["train"] * 20 + ["test"] * 10)
    y[:20][y[:20] == 2] = 1
    y[0] = 2  # class 2 has a single training sample: it cannot also reach val
    refused(npz(X=sequences(), y=y, split=split), r"no 'val' part.*at least 2.*'2' \(1\)")


def test_integer_labels_keep_their_type_for_predictions() -> None:
    task = stored(npz(X=sequences(), y=labels() * 10))
    assert task.data.meta()["label_type"] == "integer"
    classes = task.load(parse_task_options(task, {}), seed=0).preprocessing["classes"]
    assert classes == [0, 10, 20] and all(type(c) is int for c in classes)
    named = stored(npz(X=sequences(), y=np.array(["a", "b", "c"] * 10)))
    assert named.load(parse_task_options(named, {}), seed=0).preprocessing["classes"] == [
        "a", "b", "c"]
    assert named.data.meta()["label_type"] == "string"


def test_too_large_fractions_for_small_classes_are_a_spec_error() -> None:
    task = stored(npz(X=sequences(12), y=labels(12, 3)))
    with pytest.raises(SpecError, match="too few for the split"):
        parse_task_options(task, {"val_fraction": 0.45, "test_fraction": 0.45})


def test_regression_targets_are_standardised_and_reported_in_units() -> None:
    x = sequences(40)
    y = (x[:, :, 0].sum(axis=1) * 100 + 1000).astype(np.float64)
    task = stored(npz(X=x, y=y))
    assert task.kind == "regression"
    options = parse_task_options(task, {})
    assert isinstance(options, SequenceDatasetOptions)
    data = task.load(options, seed=0)
    assert data.target_scale is not None
    assert abs(float(data.train.y.mean())) < 1e-5
    truth = data.test.y * data.target_scale
    baseline = task.baselines(options)["mse"]
    assert baseline.name == "train_mean" and baseline.test_value is not None
    # Predicting the training mean (0 after standardisation) scores the baseline in units.
    assert float(truth.double().square().mean()) == pytest.approx(baseline.test_value, rel=1e-4)


def test_forecasting_splits_are_in_time_order_without_leakage() -> None:
    rows = 100
    values = np.arange(rows, dtype=np.float64) * 2.0 + 5
    content = ("t,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))).encode()
    task = stored(content, "csv", kind="forecasting", target="v", time_column="t")
    assert task.kind == "forecasting" and not task.allows_bidirectional
    options = parse_task_options(task, {"window": 4, "horizon": 2})
    assert isinstance(options, SeriesDatasetOptions)
    data = task.load(options, seed=0)
    assert data.info["train_rows"] == [5, 69]
    assert data.info["val_rows"] == [70, 84] and data.info["test_rows"] == [85, 99]
    scale = data.target_scale
    assert scale is not None
    mean = values[:70].mean()
    assert float(scale[0]) == pytest.approx(values[:70].std())

    def raw(t: torch.Tensor) -> np.ndarray:
        return t.double().numpy() * values[:70].std() + mean

    for split, (first, last) in ((data.train, data.info["train_rows"]),
                                 (data.val, data.info["val_rows"]),
                                 (data.test, data.info["test_rows"])):
        target_rows = np.arange(first, last + 1)
        assert np.allclose(raw(split.y[:, 0]), values[target_rows])
        # The window ends horizon steps before the target: rows t-5 .. t-2.
        assert np.allclose(raw(split.x[:, -1, 0]), values[target_rows - 2])
        assert np.allclose(raw(split.x[:, 0, 0]), values[target_rows - 5])
    naive = task.baselines(options)["mse"]
    assert naive.name == "naive_last_value" and naive.test_value == pytest.approx(16.0)
    window = task.load(options, seed=0, hparams={"window": 9})
    assert window.train.x.shape[1] == 9 and window.test.n == data.test.n


def test_forecasting_window_too_long_for_the_data() -> None:
    task = stored(csv_bytes(40), "csv", target="a", time_column="t")
    assert task.data_param_bounds(parse_task_options(task, {"window": 2}))["window"] == (1, 18)
    with pytest.raises(SpecError, match="largest window allowed is 18"):
        parse_task_options(task, {"window": 19})
    with pytest.raises(SpecError, match="Extra inputs are not permitted"):
        parse_task_options(task, {"split_seed": 1})


def test_metrics_of_a_constant_forecast_match_the_baseline() -> None:
    task = stored(csv_bytes(60), "csv", target="b", time_column="t")
    options = parse_task_options(task, {"window": 3})
    data = task.load(options, seed=0)
    assert data.input_size == 2 and math.isfinite(float(data.val.y.sum()))
