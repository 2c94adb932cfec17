"""A worker's other job: the final evaluation of a study that has completed.

One worker takes it (a lease in the study's row), renews the lease from a thread while it
trains, and stores the result; if the worker dies the lease runs out and another one starts
the evaluation again. A graceful stop hands it back at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import torch

from service.config import Settings
from service.errors import NotFoundError, RnntuneError
from service.models import SeedEnsemble, SequenceModel, build_bundle
from service.schemas import EvaluationRun
from service.specs import parse_spec_mapping
from service.store import STORAGE_FAULTS, StudyStore, best_trial
from service.tasks import TaskData
from service.tuning import (
    best_hparams,
    best_stopped_trial,
    evaluate_best,
    final_baselines,
    headline_metric,
    resolve_spec,
    select_best,
    verdict,
)

__all__ = ["run_pending_evaluation"]

log = logging.getLogger(__name__)


class _Lease:
    """Renews the evaluation's lease every heartbeat until closed; notes a lost lease."""

    def __init__(self, store: StudyStore, study_id: int, owner: str, settings: Settings) -> None:
        self.lost = threading.Event()
        self._done = threading.Event()
        self._args = (store, study_id, owner, float(settings.grace_period_s))
        self._interval = float(settings.heartbeat_interval_s)
        self._thread = threading.Thread(target=self._run, name="rnntune-eval-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        store, study_id, owner, lease_s = self._args
        while not self._done.wait(self._interval):
            try:
                if not store.evaluations.renew(study_id, owner=owner, lease_s=lease_s):
                    self.lost.set()
                    return
            except Exception:  # a missed renewal is retried at the next beat
                log.warning("could not renew the evaluation lease of study %s", study_id)

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=10)


def run_pending_evaluation(
    store: StudyStore, settings: Settings, *, owner: str, device: torch.device,
    stop: threading.Event,
) -> bool:
    """Evaluate one completed study if one is waiting; False when there was none."""
    study_id = store.evaluations.claim(
        owner=owner, lease_s=settings.grace_period_s,
        max_attempts=settings.max_trial_retries + 1,
    )
    if study_id is None:
        return False
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat()
    lease = _Lease(store, study_id, owner, settings)
    log.info("worker %s: evaluating study %s", owner, study_id)
    try:
        record = store.get(study_id)
        resolved = resolve_spec(parse_spec_mapping(record.spec),
                                spaces_dir=settings.search_spaces_dir, datasets=store.datasets)
        trials = store.trials(record)
        best = best_trial(record, trials)
        stopped_note: str | None = None
        if best is None:
            stopped = best_stopped_trial(trials, maximize=resolved.direction == "maximize")
            if stopped is None:
                store.evaluations.finish(study_id, owner=owner, status="skipped",
                                         result={"message": "no trial completed"})
                return True
            best, stopped_note = stopped.trial, stopped.note(resolved.metric)
        seeds = [resolved.spec.seed + i for i in range(resolved.spec.evaluation.seeds)]

        def on_run(run: EvaluationRun) -> None:
            log.info("worker %s: study %s seed %d: test %s", owner, study_id, run.seed, run.test)

        def interrupted() -> bool:
            return stop.is_set() or lease.lost.is_set()

        def on_selection_run(number: int, run: EvaluationRun) -> None:
            log.info("worker %s: study %s selection: trial %d seed %d: val %s", owner, study_id,
                     number, run.seed, run.val.get(resolved.metric_key))

        selection = None
        if not resolved.multi_objective and stopped_note is None:
            selection = select_best(resolved, trials, seeds=seeds, device=device,
                                    should_interrupt=interrupted, on_run=on_selection_run)
            if selection is None:
                if not lease.lost.is_set():
                    store.evaluations.release(study_id, owner=owner)
                return True
            best = selection.winner

        kept: dict[str, Any] = {}

        def on_model(model: SequenceModel | SeedEnsemble, data: TaskData) -> None:
            # The study seed's run, or the seed ensemble, as scored on test.
            kept["model"], kept["data"] = model, data

        result = evaluate_best(
            resolved, trial_number=best.number, params=dict(best.params), seeds=seeds,
            device=device, should_interrupt=interrupted, on_run=on_run, on_model=on_model,
            reuse=None if selection is None else selection.runs,
            reuse_models=None if selection is None else selection.models,
        )
        if result is None:
            if not lease.lost.is_set():
                store.evaluations.release(study_id, owner=owner)
            return True
        if selection is not None and selection.public is not None:
            result["selection"] = selection.public.model_dump(mode="json")
        if stopped_note is not None:
            result["message"] = stopped_note
        baselines = final_baselines(resolved, best_hparams(resolved, dict(best.params)),
                                    record.baselines or [])
        key = headline_metric(resolved.task.kind, resolved.metric_key)
        result["baselines"] = baselines
        ensemble_test = (result.get("ensemble") or {}).get("test", {})
        result["verdict"] = verdict(resolved.task.kind, resolved.metric_key, resolved.direction,
                                    [run["test"].get(key) for run in result["runs"]], baselines,
                                    ensemble=ensemble_test.get(key))
        result.update(worker=owner, started_at=started_at,
                      completed_at=datetime.now(UTC).isoformat(),
                      duration_s=time.monotonic() - started)
        bundle = None
        ensemble = result.get("ensemble")
        # The file's test metrics are those of the model it holds.
        served_test = ensemble["test"] if ensemble else result.get("test")
        if "model" in kept and served_test:
            origin = {"id": study_id, "name": record.name, "trial": best.number,
                      "params": dict(best.params), "seed": resolved.spec.seed}
            if ensemble:
                origin["seeds"] = ensemble["seeds"]
            bundle = build_bundle(
                kept["model"], kind=kept["data"].kind, metric=resolved.metric,
                preprocessing=kept["data"].preprocessing, task=record.spec.get("task"),
                study=origin, test=served_test,
            )
        # Model and result in one transaction, fenced by the lease: a worker that lost it (or
        # whose study was deleted meanwhile) writes neither.
        if not store.evaluations.finish(study_id, owner=owner, result=result, model=bundle):
            log.warning("worker %s: lost the evaluation lease of study %s; result dropped",
                        owner, study_id)
            return True
        log.info("worker %s: study %s evaluated in %.1fs", owner, study_id,
                 time.monotonic() - started)
    except NotFoundError:
        log.info("study %s was deleted during its evaluation", study_id)
    except STORAGE_FAULTS:
        # The database is unavailable: let the lease run out so that it is tried again.
        raise
    except Exception as exc:
        log.exception("worker %s: evaluation of study %s failed", owner, study_id)
        message = str(exc) if isinstance(exc, RnntuneError) else f"{type(exc).__name__}: {exc}"
        store.evaluations.finish(study_id, owner=owner, status="failed",
                                 result={"message": message[:500], "worker": owner,
                                         "started_at": started_at})
    finally:
        lease.close()
    return True
