"""Parsed data sets are kept by content and options: a data set is parsed once per process,
and a large one once per machine (other processes map the arrays from local disk)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.tasks import (
    DatasetTask,
    ParsedCache,
    SequenceDataset,
    SeriesDataset,
    StoredDataset,
    configure_parsed_cache,
    parse_dataset,
    parsed_cache,
)


def npz_bytes(n: int = 60, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, X=rng.normal(size=(n, 5, 2)).astype(np.float32), y=np.arange(n) % 3)
    return buffer.getvalue()


def csv_bytes(rows: int = 60) -> bytes:
    lines = ["t,a,b"] + [f"{i},{np.sin(i):.4f},{i * 0.5:.4f}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def stored(content: bytes, fmt: str, **options: Any) -> StoredDataset:
    return StoredDataset(id=7, name="d", format=fmt,  # type: ignore[arg-type]
                         sha256=hashlib.sha256(content).hexdigest(), content=content,
                         parse_options=options)


@pytest.fixture
def fresh_cache() -> Iterator[ParsedCache]:
    """This process's cache, emptied for the test and emptied again after it."""
    yield configure_parsed_cache(disk_dir=None)
    configure_parsed_cache(disk_dir=None)


def test_a_data_set_is_parsed_once_however_many_tasks_use_it(fresh_cache: ParsedCache) -> None:
    data = stored(npz_bytes(), "npz")
    tasks = [DatasetTask(data) for _ in range(5)]
    assert parsed_cache().parses == 1
    assert all(task.data is tasks[0].data for task in tasks)
    # Other bytes, or the same bytes parsed with other options, are parsed on their own.
    DatasetTask(stored(npz_bytes(seed=1), "npz"))
    DatasetTask(stored(npz_bytes(), "npz", kind="regression"))
    assert parsed_cache().parses == 3


def test_the_memory_keeps_the_most_recently_used(fresh_cache: ParsedCache) -> None:
    cache = ParsedCache(memory_items=2)
    calls: list[int] = []

    def parse(seed: int) -> Any:
        calls.append(seed)
        return parse_dataset(npz_bytes(seed=seed), format="npz")

    for seed in (0, 1, 0, 2, 0, 1):  # 1 leaves when 2 comes; 0 stays in use
        cache.get(sha256=f"{seed:064d}", format="npz", options={},
                  parse=lambda seed=seed: parse(seed))  # type: ignore[misc]
    assert calls == [0, 1, 2, 1]


@pytest.mark.parametrize("fmt", ["npz", "csv"])
def test_a_large_data_set_is_shared_through_disk(tmp_path: Path, fmt: str) -> None:
    content = npz_bytes(n=90) if fmt == "npz" else csv_bytes()
    options: dict[str, Any] = {"target": "b", "time_column": "t"} if fmt == "csv" else {}
    first = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0)
    second = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0)  # another process
    sha = hashlib.sha256(content).hexdigest()

    def parse() -> Any:
        return parse_dataset(content, format=fmt, **options)  # type: ignore[arg-type]

    written = first.get(sha256=sha, format=fmt, options=options, parse=parse)
    read = second.get(sha256=sha, format=fmt, options=options, parse=parse)
    assert (first.parses, second.parses) == (1, 0)
    assert type(read) is type(written)
    if isinstance(written, SequenceDataset):
        assert isinstance(read, SequenceDataset)
        np.testing.assert_array_equal(read.x, written.x)
        np.testing.assert_array_equal(read.y, written.y)
        assert read.classes == written.classes and read.lengths is None
    else:
        assert isinstance(written, SeriesDataset) and isinstance(read, SeriesDataset)
        np.testing.assert_array_equal(read.values, written.values)
        assert (read.columns, read.target) == (written.columns, written.target)
    # Mapped copy-on-write: a task may write to its arrays without touching the file.
    array = read.x if isinstance(read, SequenceDataset) else read.values  # type: ignore[union-attr]
    array[0] = 0
    again = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0).get(
        sha256=sha, format=fmt, options=options, parse=parse)
    kept = again.x if isinstance(again, SequenceDataset) else again.values  # type: ignore[union-attr]
    np.testing.assert_array_equal(kept, written.x if isinstance(written, SequenceDataset)
                                  else written.values)


def test_small_data_sets_stay_off_disk_and_a_damaged_folder_is_parsed_again(
    tmp_path: Path,
) -> None:
    content = npz_bytes()
    sha = hashlib.sha256(content).hexdigest()
    big = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0)
    small = ParsedCache(disk_dir=tmp_path / "small")  # default threshold: megabytes
    for cache in (big, small):
        cache.get(sha256=sha, format="npz", options={},
                  parse=lambda: parse_dataset(content, format="npz"))
    assert not (tmp_path / "small").exists()
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "small"]
    (folder / "x.npy").write_bytes(b"not an array")
    again = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0)
    parsed = again.get(sha256=sha, format="npz", options={},
                       parse=lambda: parse_dataset(content, format="npz"))
    assert again.parses == 1 and isinstance(parsed, SequenceDataset)


def test_the_disk_folder_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    contents = [npz_bytes(n=60, seed=seed) for seed in range(3)]
    shas = [hashlib.sha256(c).hexdigest() for c in contents]

    def get(cache: ParsedCache, index: int) -> Any:
        return cache.get(sha256=shas[index], format="npz", options={},
                         parse=lambda: parse_dataset(contents[index], format="npz"))

    def folders() -> set[str]:
        return {p.name.split("-")[0] for p in tmp_path.iterdir() if not p.name.startswith(".")}

    writer = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0, memory_items=1)
    get(writer, 0)
    one = sum(f.stat().st_size for p in tmp_path.iterdir() for f in p.iterdir())
    bounded = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0, memory_items=1,
                          disk_max_bytes=2 * one + one // 2)  # room for two
    get(bounded, 1)
    assert folders() == {shas[0], shas[1]}
    # Reading data set 0 from disk (another process: nothing in memory) makes 1 the oldest.
    ParsedCache(disk_dir=tmp_path, disk_min_bytes=0).get(
        sha256=shas[0], format="npz", options={}, parse=lambda: pytest.fail("on disk"))
    held = get(bounded, 2)  # the third: the least recently used one goes
    assert folders() == {shas[0], shas[2]}
    np.testing.assert_array_equal(held.x, parse_dataset(contents[2], format="npz").x)
    again = ParsedCache(disk_dir=tmp_path, disk_min_bytes=0)
    get(again, 1)
    assert again.parses == 1, "a removed data set is parsed again"
