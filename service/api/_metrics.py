"""GET /metrics in the Prometheus text format: studies, trials, heartbeats, durations."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from optuna.trial import TrialState

from service.api._auth import Principal, ReadPrincipal, can_see
from service.api._deps import StoreDep
from service.store import StudyStore

__all__ = ["render_metrics", "router"]

router = APIRouter(tags=["health"])

_STATUSES = ("queued", "running", "completed", "cancelled", "failed")
_DURATION_BUCKETS_S = (1, 5, 15, 60, 300, 900, 3600, 14400)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(store: StoreDep, principal: ReadPrincipal) -> PlainTextResponse:
    """Counts over the studies this key may see (a submit key: its own)."""
    return PlainTextResponse(render_metrics(store, principal),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


def render_metrics(store: StudyStore, principal: Principal | None = None) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    records = [r for r in store.list_studies()
               if principal is None or can_see(principal, r)]
    visible = {r.id for r in records}
    statuses = Counter(r.status for r in records)
    family("rnntune_studies", "gauge", "Studies by status.")
    lines += [f'rnntune_studies{{status="{s}"}} {statuses.get(s, 0)}' for s in _STATUSES]

    # From the counters rows and SQL aggregates: no trial is loaded.
    states = store.trial_totals(records)
    durations = store.duration_histogram(records, _DURATION_BUCKETS_S)
    family("rnntune_trials", "gauge", "Trials by state, over all studies.")
    lines += [f'rnntune_trials{{state="{s.name.lower()}"}} {states.get(s.name.lower(), 0)}'
              for s in TrialState]

    family("rnntune_trial_duration_seconds", "histogram",
           "Wall time of finished (complete or pruned) trials.")
    for bound in _DURATION_BUCKETS_S:
        lines.append(f'rnntune_trial_duration_seconds_bucket{{le="{bound}"}} '
                     f"{durations.buckets[bound]}")
    lines.append(f'rnntune_trial_duration_seconds_bucket{{le="+Inf"}} {durations.count}')
    lines.append(f"rnntune_trial_duration_seconds_sum {durations.sum_s:.3f}")
    lines.append(f"rnntune_trial_duration_seconds_count {durations.count}")

    ages = [(sid, num, age) for sid, num, age in store.heartbeat_ages() if sid in visible]
    family("rnntune_running_trial_heartbeat_age_seconds", "gauge",
           "Seconds since each running trial's worker last sent a heartbeat.")
    lines += [f'rnntune_running_trial_heartbeat_age_seconds{{study="{sid}",trial="{num}"}} '
              f"{age:.1f}" for sid, num, age in ages]
    family("rnntune_heartbeat_age_max_seconds", "gauge",
           "The oldest heartbeat among running trials (0 when none run).")
    lines.append(f"rnntune_heartbeat_age_max_seconds {max((a for *_, a in ages), default=0):.1f}")
    return "\n".join(lines) + "\n"
