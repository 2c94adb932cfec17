"""rnntune: a hyperparameter-search service for RNN, LSTM and GRU models.

``service.load_model(path)`` loads a study's exported best model, ready to predict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.models._bundle import LoadedModel, load_model

__version__ = "0.1.0"
__all__ = ["LoadedModel", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the CLI and client start without loading torch.
    if name in ("load_model", "LoadedModel"):
        from service.models import _bundle

        return getattr(_bundle, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
