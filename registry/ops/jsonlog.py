"""Structured logs: one JSON object per line, with the request id and user of the request.

``LOG_FORMAT=json`` (the default) uses :class:`JsonFormatter` on the console handler;
``LOG_FORMAT=text`` keeps Django's plain lines for a developer's terminal. The access log
(logger ``registry.access``, written by ``RequestIdMiddleware``) adds method, path, status
and duration_ms to each request's line.
"""

import json
import logging
from datetime import UTC, datetime

from . import context

ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "user")


_default_factory = logging.getLogRecordFactory()


def _record_with_context(*args, **kwargs):
    """Every log record carries the request id and user of the request it was written in."""
    record = _default_factory(*args, **kwargs)
    record.context_request_id = context.request_id() or None
    record.context_user = context.user() or None
    return record


def install():
    """Called once at start-up (registry.ops.apps)."""
    if logging.getLogRecordFactory() is not _record_with_context:
        logging.setLogRecordFactory(_record_with_context)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or getattr(record, "context_request_id", None),
            "user": getattr(record, "user", None) or getattr(record, "context_user", None),
        }
        for field in ACCESS_FIELDS:
            value = getattr(record, field, None)
            if value is not None and field != "user":
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
