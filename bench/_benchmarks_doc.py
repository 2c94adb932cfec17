"""Writing one benchmark's section of ``docs/benchmarks.md``: its first lines, its numbers,
and replacing it while keeping every other section."""

from __future__ import annotations

import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "benchmarks.md"
DOC_INTRO = (
    "# Benchmarks\n\nMeasured figures of rnntune; each section names the script in `bench/` "
    "and the exact command that produced it.\n"
)
GPU_NOTE = ("No GPU figures: the machine these were measured on has no CUDA device "
            "(torch CPU build).")


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table; '-' for NaN or infinity."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def replace_section(document: str, title: str, new_section: str) -> str:
    """Put ``new_section`` (which starts with ``title``) in place of the section called
    ``title`` (up to the next ``## `` heading), or append it."""
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    body = new_section.rstrip("\n") + "\n"
    if pattern.search(document):
        return pattern.sub(lambda m: body + ("\n" if m.end() < len(document) else ""),
                           document, count=1)
    return document.rstrip("\n") + "\n\n" + body


def write_section(title: str, new_section: str, path: Path = DOC_PATH) -> None:
    """Replace one benchmark's section of ``path``; keep every other section."""
    document = path.read_text() if path.exists() else DOC_INTRO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(document, title, new_section))


def header(title: str, *, intro: str, command: str, facts: str, conditions: str) -> list[str]:
    """The first lines every section shares: what, the command, the machine and the load."""
    return [title, "", intro, "", "```", command, "```", "", f"{facts}. {conditions}", ""]

