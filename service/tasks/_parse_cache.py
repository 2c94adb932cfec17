"""Parsed user data sets, kept by their content's sha256: an upload is parsed once per process.

A study's task is rebuilt for every trial and every submit, and parsing (a CSV above all) can
cost more than a short trial. The bytes under a sha256 never change, so neither does what they
parse to with the same options. A process keeps the last few parsed data sets in memory; large
ones also go to a folder on local disk as plain ``.npy`` arrays, which other processes on the
machine (and a restarted worker) map copy-on-write instead of parsing again: the pages are
shared until one of them writes. The folder is bounded (``disk_max_bytes``): after each write
the least recently used data sets go first. A process still mapping a removed one keeps its
pages (the files are unlinked, not overwritten); one that was reading it parses again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ._parsed import ParsedDataset, SequenceDataset, SeriesDataset

__all__ = [
    "DEFAULT_DISK_MAX_BYTES",
    "DEFAULT_DISK_MIN_BYTES",
    "ParsedCache",
    "cache_key",
    "configure_parsed_cache",
    "default_disk_dir",
    "parsed_cache",
]

log = logging.getLogger(__name__)

DEFAULT_DISK_MIN_BYTES = 4 * 1024**2  # below this, parsing again is cheaper than a file
DEFAULT_DISK_MAX_BYTES = 2 * 1024**3  # the folder's bound: a few of the largest uploads
_TYPES: dict[str, type[SequenceDataset] | type[SeriesDataset]] = {
    "sequence": SequenceDataset, "series": SeriesDataset,
}


class ParsedCache:
    """Parsed data sets by (sha256, format, options): ``memory_items`` in memory, the large
    ones (``disk_min_bytes`` of arrays or more) also under ``disk_dir`` when one is set, which
    holds at most ``disk_max_bytes``."""

    def __init__(
        self,
        *,
        memory_items: int = 4,
        disk_dir: Path | None = None,
        disk_min_bytes: int = DEFAULT_DISK_MIN_BYTES,
        disk_max_bytes: int = DEFAULT_DISK_MAX_BYTES,
    ) -> None:
        if memory_items < 1:
            raise ValueError(f"memory_items must be at least 1, got {memory_items}")
        self.memory_items = memory_items
        self.disk_dir = disk_dir
        self.disk_min_bytes = disk_min_bytes
        self.disk_max_bytes = disk_max_bytes
        self.parses = 0  # how many times ``parse`` really ran (for tests and benchmarks)
        self._memory: OrderedDict[str, ParsedDataset] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        *,
        sha256: str,
        format: str,
        options: Mapping[str, Any],
        parse: Callable[[], ParsedDataset],
    ) -> ParsedDataset:
        """The parsed data set, from memory, from disk, or from ``parse()`` (then kept)."""
        key = cache_key(sha256, format, options)
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        found = self._read_disk(key)
        if found is None:
            found = parse()
            self.parses += 1
            self._write_disk(key, found)
        with self._lock:
            self._memory[key] = found
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
        return found

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    # -- disk ----------------------------------------------------------------------------

    def _read_disk(self, key: str) -> ParsedDataset | None:
        if self.disk_dir is None:
            return None
        folder = self.disk_dir / key
        try:
            meta = json.loads((folder / "meta.json").read_text())
            kind = _TYPES[meta.pop("type")]
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c", allow_pickle=False)
                      for name in meta.pop("arrays")}
            with suppress(OSError):
                _mark_used(folder / "meta.json")
            return kind(**meta, **arrays)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            # A half-removed or foreign folder: parse again (and replace it).
            log.warning("parsed data set cache %s unreadable, parsing again: %s", folder, error)
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def _write_disk(self, key: str, parsed: ParsedDataset) -> None:
        if self.disk_dir is None:
            return
        values = {f.name: getattr(parsed, f.name) for f in fields(parsed)}
        arrays = {name: v for name, v in values.items() if isinstance(v, np.ndarray)}
        if sum(a.nbytes for a in arrays.values()) < self.disk_min_bytes:
            return
        meta = {name: v for name, v in values.items() if name not in arrays}
        meta["type"] = "sequence" if isinstance(parsed, SequenceDataset) else "series"
        meta["arrays"] = sorted(arrays)
        staging: Path | None = None
        try:
            # Private to this user: a folder others could write to could feed us their data.
            self.disk_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.disk_dir))
            for name, array in arrays.items():
                np.save(staging / f"{name}.npy", array, allow_pickle=False)
            (staging / "meta.json").write_text(json.dumps(meta))
            _mark_used(staging / "meta.json")
            # Whole or not at all: another process may be writing the same data set.
            os.rename(staging, self.disk_dir / key)
        except OSError as error:
            if not (self.disk_dir / key).is_dir():
                log.warning("parsed data set not cached on disk: %s", error)
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            return
        self._bound_disk()

    def _bound_disk(self) -> None:
        """Remove the least recently used data sets until the folder holds at most
        ``disk_max_bytes``."""
        assert self.disk_dir is not None
        entries = []
        for folder in self.disk_dir.iterdir():
            if folder.name.startswith("."):
                continue  # another process's write in progress
            try:
                size = sum(f.stat().st_size for f in folder.iterdir())
                used = (folder / "meta.json").stat().st_mtime
            except OSError:
                continue  # removed meanwhile, or not one of ours
            entries.append((used, size, folder))
        total = sum(size for _, size, _ in entries)
        for _, size, folder in sorted(entries):
            if total <= self.disk_max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            log.info("parsed data set cache: removed %s to stay within %d bytes", folder.name,
                     self.disk_max_bytes)


def _mark_used(meta: Path) -> None:
    """Stamp a data set's last use on its ``meta.json``: the bound removes the oldest first.
    Exact nanoseconds: the file system's own clock ticks too coarsely to order close uses."""
    now = time.time_ns()
    os.utime(meta, ns=(now, now))


def default_disk_dir() -> Path:
    """``rnntune-parsed-<uid>`` in the system's temporary folder."""
    return Path(tempfile.gettempdir()) / f"rnntune-parsed-{os.getuid()}"


def cache_key(sha256: str, format: str, options: Mapping[str, Any]) -> str:
    """One name per content and parse options (a file or folder name)."""
    spelled = json.dumps({"format": format, "options": dict(options)}, sort_keys=True)
    return f"{sha256}-{hashlib.sha256(spelled.encode()).hexdigest()[:12]}"


_default = ParsedCache()


def parsed_cache() -> ParsedCache:
    """This process's cache (memory only until ``configure`` gives it a folder)."""
    return _default


def configure_parsed_cache(*, disk_dir: Path | None, memory_items: int = 4,
                           disk_max_bytes: int = DEFAULT_DISK_MAX_BYTES) -> ParsedCache:
    """Replace this process's cache: workers give it a folder for large data sets."""
    global _default
    _default = ParsedCache(memory_items=memory_items, disk_dir=disk_dir,
                           disk_max_bytes=disk_max_bytes)
    return _default
