"""Submitting a study, the one path for the API, the CLI and scripts: resolve the spec, check
it against the limits and the submitter's quota, plan its warm start, create it, queue the
warm start."""

from service.studies._submit import Submitted, Submitter, resolve_study, submit_study
from service.studies._warm_start import enqueue_planned, plan_warm_start

__all__ = [
    "Submitted",
    "Submitter",
    "enqueue_planned",
    "plan_warm_start",
    "resolve_study",
    "submit_study",
]
