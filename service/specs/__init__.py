"""Study specs as documents: their models (``StudySpec``, ``SweepSpec``), parsing (YAML or
JSON -> ``StudySpec``, within bounds) and the arithmetic of a spec's budget. Checking the
names a spec uses against the registries is ``service.tuning.resolve_spec``."""

from service.specs._budget import search_trials, selection_plan
from service.specs._models import MAX_SWEEP_STUDIES
from service.specs._parse import parse_spec_document, parse_spec_mapping

__all__ = [
    "MAX_SWEEP_STUDIES",
    "parse_spec_document",
    "parse_spec_mapping",
    "search_trials",
    "selection_plan",
]
