"""The ``readout`` hyperparameter: from a spec's space to the model a trial trains, and into
the size bound of a space."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import torch

from service.config import default_search_spaces_dir
from service.errors import SpecError
from service.models import READOUTS, SequenceModel, SequenceModelConfig
from service.spaces import CATALOG
from service.specs import parse_spec_mapping
from service.studies._model_size import largest_model
from service.trial_attrs import ATTR_N_PARAMS
from service.tuning import make_objective, resolve_spec
from tests.factories import tiny_spec

READOUT = {"type": "categorical", "choices": list(READOUTS)}


def _resolve(params: dict[str, Any], **spec: Any) -> Any:
    document = tiny_spec(search_space={"params": params}, **spec)
    return resolve_spec(parse_spec_mapping(document), spaces_dir=default_search_spaces_dir())


def test_the_catalog_offers_every_readout_the_model_builds() -> None:
    assert CATALOG["readout"].choices == READOUTS
    assert CATALOG["readout"].default == SequenceModelConfig.readout == "last"


@pytest.mark.parametrize("readout", READOUTS)
def test_a_trial_trains_the_readout_its_space_drew(readout: str) -> None:
    params = {
        "cell": "gru",
        "hidden_size": 4,
        "bidirectional": True,
        "lr": 0.01,
        "batch_size": 32,
        "readout": READOUT,
    }
    resolved = _resolve(params, budget={"n_trials": 1, "max_epochs": 1})
    study = optuna.create_study()
    study.enqueue_trial({"readout": readout})
    study.optimize(
        make_objective(resolved, device=torch.device("cpu"), worker="t", study_id=1), n_trials=1
    )
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.params["readout"] == readout
    # The parameter count tells the head's width: mean_max reads twice the features.
    expected = SequenceModel(
        SequenceModelConfig(
            cell="gru",
            input_size=2,
            output_size=1,
            hidden_size=4,
            bidirectional=True,
            readout=readout,
        )
    )  # type: ignore[arg-type]
    assert trial.user_attrs[ATTR_N_PARAMS] == expected.count_parameters()


def test_a_space_that_leaves_it_out_reads_the_last_state() -> None:
    resolved = _resolve({"cell": "gru", "hidden_size": 4, "lr": 0.01, "batch_size": 32})
    hp = resolved.space.resolve(resolved.space.suggest(optuna.trial.FixedTrial({})))
    assert hp["readout"] == "last"


def test_an_unknown_readout_is_refused_naming_the_choices() -> None:
    with pytest.raises(SpecError) as caught:
        _resolve({"readout": {"type": "categorical", "choices": ["last", "attention"]}})
    assert caught.value.loc[:3] == ("search_space", "params", "readout")
    assert "'attention'" in caught.value.message and "mean_max" in caught.value.message


def test_the_size_bound_counts_the_wider_head_of_mean_max() -> None:
    def head(choices: list[str]) -> int:
        resolved = _resolve(
            {
                "cell": "gru",
                "hidden_size": 4,
                "readout": {"type": "categorical", "choices": choices},
            }
        )
        return largest_model(resolved.space, input_size=2, output_size=3, seq_len=8).params

    # The head of a 4-unit GRU read as mean and max has 8 more inputs, each to 3 outputs.
    assert head(["last", "mean_max"]) - head(["last", "mean"]) == 4 * 3
    bound = head(["last", "mean_max"])
    model = SequenceModel(
        SequenceModelConfig(
            cell="gru", input_size=2, output_size=3, hidden_size=4, readout="mean_max"
        )
    )
    assert bound == model.count_parameters()
