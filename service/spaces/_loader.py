"""Find, read and list the named search spaces of ``search_spaces/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.errors import SpecError, UnknownNameError
from service.spaces._yaml import load_untrusted_yaml

__all__ = ["list_space_names", "load_space_file"]

_SPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def list_space_names(directory: Path) -> list[str]:
    """Names of the ``*.yaml`` files in ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if _SPACE_NAME.match(p.stem))


def load_space_file(name: str, directory: Path) -> dict[str, Any]:
    """Parse the named space; unknown names raise with the list of known ones."""
    known = list_space_names(directory)
    # The name is matched against the listing, never joined blindly into a path.
    if not _SPACE_NAME.match(name) or name not in known:
        raise UnknownNameError("search space", name, known, loc=("search_space",))
    path = directory / f"{name}.yaml"
    try:
        # The loader of submitted specs: ``low: 1e-4`` is the same number in a file or inline.
        loaded = load_untrusted_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:
        raise SpecError(f"search space file {path.name} is not valid YAML: {exc}",
                        loc=("search_space",)) from exc
    if not isinstance(loaded, dict):
        raise SpecError(f"search space file {path.name} must hold a mapping",
                        loc=("search_space",))
    return loaded
