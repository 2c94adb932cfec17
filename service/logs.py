"""One logging set-up for every rnntune process: the server, the worker pool's parent and each
worker process, so their lines read alike and can be merged by time."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _NoRequest(logging.Filter):
    """Lines logged outside a request carry ``-`` as their request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


def configure_logging(level: str, *filters: logging.Filter) -> None:
    """Log at ``level`` to standard error; ``filters`` (the server's request-id filter) run
    on every line first."""
    logging.basicConfig(level=level.upper(), format=_FORMAT)
    for handler in logging.getLogger().handlers:
        for line_filter in (*filters, _NoRequest()):
            handler.addFilter(line_filter)
