"""Recurrent sequence models: a config dataclass and ``SequenceModel`` over RNN, LSTM, GRU."""

from ._config import CELLS, CellType, Nonlinearity, RecurrentInit, SequenceModelConfig
from ._model import SequenceModel

__all__ = [
    "CELLS",
    "CellType",
    "Nonlinearity",
    "RecurrentInit",
    "SequenceModel",
    "SequenceModelConfig",
]
