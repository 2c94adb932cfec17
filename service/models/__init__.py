"""Recurrent sequence models: a config dataclass and ``SequenceModel`` over RNN, LSTM, GRU;
a study's best model as one file (``build_bundle``, ``load_model``)."""

from ._bundle import LoadedModel, build_bundle, load_model
from ._config import (
    CELLS,
    READOUTS,
    CellType,
    Nonlinearity,
    Readout,
    RecurrentInit,
    SequenceModelConfig,
)
from ._ensemble import SeedEnsemble
from ._model import SequenceModel

__all__ = [
    "CELLS",
    "READOUTS",
    "CellType",
    "LoadedModel",
    "Nonlinearity",
    "Readout",
    "RecurrentInit",
    "SeedEnsemble",
    "SequenceModel",
    "SequenceModelConfig",
    "build_bundle",
    "load_model",
]
