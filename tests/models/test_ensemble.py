"""Seed ensembles: several runs of one configuration served as their averaged predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from service.models import (
    SeedEnsemble,
    SequenceModel,
    SequenceModelConfig,
    build_bundle,
    load_model,
)


def _members(n: int, **options: Any) -> list[SequenceModel]:
    config = SequenceModelConfig(**{"cell": "gru", "input_size": 2, "output_size": 3,
                                    "hidden_size": 5, **options})
    members = []
    for seed in range(n):
        torch.manual_seed(seed)
        members.append(SequenceModel(config).eval())
    return members


def test_a_classifier_ensemble_averages_probabilities_not_logits() -> None:
    members = _members(3)
    # One over-confident member: averaging logits would let it decide alone.
    with torch.no_grad():
        members[0].head.weight.mul_(50)
    ensemble = SeedEnsemble(members, classification=True)
    x, lengths = torch.randn(6, 7, 2), torch.tensor([7, 3, 5, 7, 1, 2])
    with torch.no_grad():
        got = torch.softmax(ensemble(x, lengths), dim=1)
        expected = torch.stack([torch.softmax(m(x, lengths), dim=1) for m in members]).mean(0)
    torch.testing.assert_close(got, expected)
    # Its cross-entropy is that of the averaged probabilities.
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(ensemble(x, lengths), target)
    torch.testing.assert_close(loss, -expected[torch.arange(6), target].log().mean())


def test_a_regression_ensemble_averages_outputs() -> None:
    members = _members(2, output_size=1)
    x = torch.randn(4, 5, 2)
    with torch.no_grad():
        torch.testing.assert_close(SeedEnsemble(members, classification=False)(x),
                                   (members[0](x) + members[1](x)) / 2)


def test_members_must_share_one_configuration() -> None:
    with pytest.raises(ValueError, match="one configuration"):
        SeedEnsemble(_members(1) + _members(1, hidden_size=6), classification=True)
    with pytest.raises(ValueError, match="at least one member"):
        SeedEnsemble([], classification=False)


def test_an_ensemble_model_file_serves_the_average() -> None:
    members = _members(3)
    ensemble = SeedEnsemble(members, classification=True).eval()
    raw = build_bundle(ensemble, kind="classification", metric="loss",
                       preprocessing={"layout": "sequences", "classes": ["a", "b", "c"],
                                      "input": {"mean": [1.0, -1.0], "std": [2.0, 0.5]}})
    loaded = load_model(raw)
    assert loaded.n_members == 3 and "members=3" in repr(loaded)
    x = np.random.default_rng(0).normal(size=(5, 4, 2))
    normalised = torch.tensor((x - [1.0, -1.0]) / [2.0, 0.5], dtype=torch.float32)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(normalised).double(), 1) for m in members])
    np.testing.assert_allclose(loaded.predict_proba(x), expected.mean(0).numpy(), rtol=1e-5)
    labels = np.asarray(["a", "b", "c"])[expected.mean(0).argmax(1).numpy()]
    assert list(loaded.predict(x)) == list(labels)


def test_an_ensemble_forecaster_exports_to_torchscript_as_its_average() -> None:
    members = _members(2, output_size=1, highway=2, target_index=1)
    prep = {"layout": "series", "window": 4, "horizon": 1, "columns": ["a", "b"],
            "target": {"mean": [10.0], "std": [3.0]}}
    loaded = load_model(build_bundle(SeedEnsemble(members, classification=False),
                                     kind="forecasting", metric="mse", preprocessing=prep))
    x = torch.randn(3, 4, 2)
    with torch.no_grad():
        expected = ((members[0](x) + members[1](x)) / 2).double().numpy() * 3.0 + 10.0
    np.testing.assert_allclose(loaded.predict(x.numpy()), expected, rtol=1e-5)
    scripted = loaded.to_torchscript()
    np.testing.assert_allclose(scripted(x).numpy(), expected, rtol=1e-5)


def test_a_single_model_file_has_one_member() -> None:
    loaded = load_model(build_bundle(_members(1)[0], kind="classification", metric="loss",
                                     preprocessing={"layout": "sequences"}))
    assert loaded.n_members == 1 and isinstance(loaded.module, SequenceModel)
