"""Keys of the user attributes of a trial: the objective and the store write them; the API,
the pruners and the report read them. A module of names only, so that any package may use it.
"""

ATTR_EPOCHS = "epochs"
ATTR_PRUNE_REASON = "prune_reason"
ATTR_MESSAGE = "message"
ATTR_DEVICE = "device"
ATTR_WORKER = "worker"
ATTR_BEST_EPOCH = "best_epoch"
ATTR_CHECKPOINT_KEY = "checkpoint_key"
ATTR_RESUMED_FROM = "resumed_from_epoch"
ATTR_N_PARAMS = "n_params"
ATTR_LATENCY_MS = "latency_ms"
# Where a queued configuration came from ("user", "best-practice", "study 3 trial 7").
ATTR_SOURCE = "source"
