"""YAML for untrusted documents: the safe loader, without anchors and aliases.

Aliases let a few hundred bytes stand for an exponentially large document ("billion laughs");
the parsed object shares references, but storing or serialising it expands every copy. Study
specs never need them, so they are refused outright.

A document in JSON, what API clients send, is read by the standard library's C parser
instead: PyYAML's pure-Python loader took ~3 ms of a submit's ~10 ms for a small spec. The two
give the same values (YAML is a superset of JSON; ``NaN`` and ``Infinity`` stay strings, as
YAML reads them; a repeated key keeps its last value in both), and the same depth limit holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

__all__ = ["load_untrusted_document", "load_untrusted_yaml"]


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


def load_untrusted_document(text: str) -> Any:
    """Parse a JSON or YAML document as ``load_untrusted_yaml`` does; JSON by the C parser.
    Every refusal is a ``yaml.YAMLError``, an integer of thousands of digits included."""
    try:
        return _load_document(text)
    except yaml.YAMLError:
        raise
    except ValueError as exc:  # the interpreter's limit on converting long integers
        raise yaml.YAMLError(f"a number out of range: {exc}") from None


def _load_document(text: str) -> Any:
    if text.lstrip().startswith(("{", "[")):
        try:
            loaded = json.loads(text, parse_constant=str)  # NaN, Infinity: strings, as in YAML
        except json.JSONDecodeError:
            pass  # a YAML flow collection ({a: 1}) or broken JSON: YAML reads it or says why
        except RecursionError:
            raise _too_deep() from None
        else:
            if _depth(loaded) > MAX_YAML_DEPTH:
                raise _too_deep()
            return loaded
    return load_untrusted_yaml(text)


def _depth(value: Any) -> int:
    """Levels of nesting, a scalar counting one (as the YAML composer counts nodes)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_YAML_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> yaml.YAMLError:
    return yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep")
