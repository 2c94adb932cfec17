"""YAML for untrusted documents: the safe loader, without anchors and aliases.

Aliases let a few hundred bytes stand for an exponentially large document ("billion laughs");
the parsed object shares references, but storing or serialising it expands every copy. Study
specs never need them, so they are refused outright.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["load_untrusted_yaml"]


# Nesting deeper than this is refused while composing, before the composer's own recursion
# could hit Python's limit (a few kilobytes of "[[[[" did). Specs need a handful of levels.
MAX_YAML_DEPTH = 64


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses aliases and deep nesting and reads ``1e-5`` as a number
    (YAML 1.2 style; YAML 1.1 would make it the string "1e-5")."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_YAML_DEPTH} levels deep", mark
            )
        self._depth += 1
        try:
            return self._compose_node(parent, index)
        finally:
            self._depth -= 1

    def _compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a study spec", mark
            )
        node = super().compose_node(parent, index)
        return node


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")
)


def load_untrusted_yaml(text: str) -> Any:
    """Parse YAML (or JSON) with the safe loader, refusing aliases."""
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
