"""Loading named search-space files."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import default_search_spaces_dir
from service.errors import SpecError, UnknownNameError
from service.spaces import list_space_names, load_space_file

SPACES_DIR = default_search_spaces_dir()


def test_list_space_names_is_sorted_and_complete() -> None:
    names = list_space_names(SPACES_DIR)
    assert names == sorted(names)
    assert names == sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))
    assert "lstm" in names


def test_list_space_names_of_missing_dir(tmp_path: Path) -> None:
    assert list_space_names(tmp_path / "nope") == []


def test_list_space_names_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("params: {num_layers: 2}\n")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.yaml").write_text("params: {num_layers: 2}\n")
    assert list_space_names(tmp_path) == ["good"]


def test_load_known_space() -> None:
    raw = load_space_file("lstm", SPACES_DIR)
    assert isinstance(raw, dict)
    assert "params" in raw and "lr" in raw["params"]


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_space_file("transformer", SPACES_DIR)
    error = info.value
    assert error.loc == ("search_space",)
    assert error.valid == list_space_names(SPACES_DIR)
    for name in ("transformer", "lstm", "gru", "mixed"):
        assert name in error.message


@pytest.mark.parametrize(
    "name", ["../secret", "a/b", "../spaces/good", "/etc/passwd", "good.yaml", "", "good\n", "."]
)
def test_path_like_names_are_rejected(tmp_path: Path, name: str) -> None:
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    (spaces / "good.yaml").write_text("params: {num_layers: 2}\n")
    (tmp_path / "secret.yaml").write_text("params: {num_layers: 3}\n")
    (spaces / "a").mkdir()
    (spaces / "a" / "b.yaml").write_text("params: {num_layers: 4}\n")
    with pytest.raises(UnknownNameError) as info:
        load_space_file(name, spaces)
    assert info.value.valid == ["good"]
    assert load_space_file("good", spaces) == {"params": {"num_layers": 2}}


def test_invalid_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("params: {num_layers: [1, 2\n")
    with pytest.raises(SpecError) as info:
        load_space_file("broken", tmp_path)
    assert not isinstance(info.value, UnknownNameError)
    assert info.value.loc == ("search_space",)
    assert "broken.yaml" in info.value.message
    assert "YAML" in info.value.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_non_mapping_yaml_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "odd.yaml").write_text(text)
    with pytest.raises(SpecError) as info:
        load_space_file("odd", tmp_path)
    assert info.value.loc == ("search_space",)
    assert "mapping" in info.value.message
