"""rnntune: a hyperparameter-search service for RNN, LSTM and GRU models."""

__version__ = "0.1.0"
