"""Workers on a real GPU (skipped where there is none): several processes share one card."""

from __future__ import annotations

import pytest
import torch

from service.store import StudyStore, count_trials
from service.trial_attrs import ATTR_DEVICE
from service.worker import Supervisor, gpu_placements
from tests.factories import create_study, tiny_spec, wait_for

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_two_processes_share_one_gpu_and_finish_the_budget(store: StudyStore) -> None:
    record = create_study(store, tiny_spec(budget={"n_trials": 6, "max_epochs": 2}))
    supervisor = Supervisor(store.settings, placements=gpu_placements([0], per_gpu=2),
                            name="gpu-share")
    supervisor.start()
    try:
        wait_for(lambda: store.get(record.id).status == "completed", timeout=240,
                 what="the study to complete on the GPU")
    finally:
        supervisor.stop()
    trials = store.trials(record)
    counts = count_trials(trials)
    assert counts.finished == 6 and counts.fail == 0
    assert {t.user_attrs[ATTR_DEVICE] for t in trials} == {"cuda:0"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2
