"""The load benchmark's quick mode runs and keeps every study (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_benchmark_quick_mode() -> None:
    spec = importlib.util.spec_from_file_location("load_api", ROOT / "bench" / "load_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_api"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    result = module.main(["--clients", "4", "--rounds", "2"])
    assert result["errors"] == []
    assert result["submitted"] == result["stored"] == 8
    assert result["lost"] == result["duplicated"] == result["not_cancelled"] == 0
