"""The load benchmark's quick mode runs and keeps every study (no timing is asserted)."""

from __future__ import annotations

import pytest

from bench import load_api


@pytest.mark.slow
def test_load_benchmark_quick_mode() -> None:
    result = load_api.main(["--clients", "4", "--rounds", "2"])
    assert result["errors"] == []
    assert result["submitted"] == result["stored"] == 8
    assert result["lost"] == result["duplicated"] == result["not_cancelled"] == 0
