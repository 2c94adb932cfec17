"""YAML for untrusted documents: the safe loader, without anchors and aliases.

Aliases let a few hundred bytes stand for an exponentially large document ("billion laughs");
the parsed object shares references, but storing or serialising it expands every copy. Study
specs never need them, so they are refused outright.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_untrusted_yaml"]


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a study spec", event.start_mark
            )
        node = super().compose_node(parent, index)
        return node


def load_untrusted_yaml(text: str) -> Any:
    """Parse YAML (or JSON) with the safe loader, refusing aliases."""
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
