"""Data as it usually comes, over REST, the client and the CLI: an archive's train/test split,
a monthly series with covariates, and a broken cell named by line, row and column."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.cli import main
from service.client import Client
from service.errors import DatasetError, SpecError
from tests.factories import tiny_spec
from tests.test_cli import server

__all__ = ["server"]


def train_test_npz() -> bytes:
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    x = rng.normal(size=(48, 6, 1)).astype(np.float32) + y[:, None, None]
    buffer = io.BytesIO()
    np.savez(buffer, X=x, y=y, split=np.array(["train"] * 36 + ["test"] * 12))
    return buffer.getvalue()


def monthly_csv(rows: int = 60) -> str:
    lines = ["month,sales,price,ads"]
    for i in range(rows):
        lines.append(f"{2001 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 3):.4f},"
                     f"{2 + i * 0.01:.2f},{i % 5}")
    return "\n".join(lines) + "\n"


def test_train_test_archive_gets_its_validation_part_from_train(
    http: TestClient, client: Client
) -> None:
    response = http.post("/v1/datasets", content=train_test_npz(),
                         params={"filename": "archive.npz"})
    assert response.status_code == 201, response.text
    meta = response.json()["meta"]
    assert meta["split_sizes"] == {"train": 36, "val": 0, "test": 12}
    assert "carved from the given training part" in meta["carved"]["val"]
    dataset = response.json()["id"]
    study = client.submit(tiny_spec(task={"dataset": dataset, "val_fraction": 0.25,
                                          "split_seed": 1}))
    assert study.spec["task"]["val_fraction"] == 0.25
    with pytest.raises(SpecError, match="brings its own 'test' part"):
        client.submit(tiny_spec(task={"dataset": dataset, "test_fraction": 0.2}))


def test_monthly_series_with_covariates(client: Client) -> None:
    dataset = client.upload_dataset(monthly_csv().encode(), filename="sales.csv",
                                    target="sales", time_column="month")
    assert dataset.meta["frequency"] == "monthly"
    assert dataset.meta["covariates"] == ["price", "ads"]
    assert dataset.meta["time_range"] == ["2001-01", "2005-12"]
    broken = monthly_csv().replace("\n2001-04,", "\n2001-04,x", 1)
    with pytest.raises(DatasetError, match=r"line 5 \(data row 4\), column 'sales': 'x.*' is "
                                           "not a number"):
        client.upload_dataset(broken.encode(), filename="b.csv", target="sales",
                              time_column="month")


def test_cli_shows_frequency_covariates_and_carved_parts(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = tmp_path / "sales.csv"
    series.write_text(monthly_csv())
    assert main(["datasets", "upload", str(series), "--target", "sales", "--time-column",
                 "month", "--url", server]) == 0
    assert "60 rows, target sales, covariates price, ads, monthly" in capsys.readouterr().out
    archive = tmp_path / "archive.npz"
    archive.write_bytes(train_test_npz())
    assert main(["datasets", "upload", str(archive), "--url", server]) == 0
    assert "48 sequences (val carved from the given train part)" in capsys.readouterr().out
