"""JSON log lines with the request id, for every process of the platform.

Plain Python (no Django, no LiteLLM): the proxy's workers, the shipper and Django's processes
(``llmaas/logging_json.py``) share the formatter, the request id's rules and its context variable.

One request id follows a call end to end: nginx sets ``X-Request-ID`` (the client's when it is
well-formed, else its own), Django and the proxy's route gate read it (or make one when a request
did not come through nginx), every log line written while the request is handled carries it, and
the usage record stores it in ``request_logs.request_id``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_MAX = 64
# What nginx's map accepts too (deploy/nginx.conf.template): a client's id is believed only when it
# is this short and safe; anything else is replaced, so no log line or column takes a client's junk.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_request_id: ContextVar[str] = ContextVar("llmaas_request_id", default="")


def valid_request_id(value: str | bytes | None) -> str | None:
    """The id when it is well-formed (bounded, safe characters), else None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_or_new(value: str | bytes | None) -> str:
    """The incoming id when it is well-formed, else a fresh one."""
    return valid_request_id(value) or new_request_id()


def current_request_id() -> str:
    """The id of the request being handled ("" outside one)."""
    return _request_id.get()


def set_request_id(value: str) -> object:
    """Binds the id to the current context; returns the token for ``reset_request_id``."""
    return _request_id.set(value)


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``record.request_id``; "" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


# LogRecord's own attributes: anything else on a record came through ``extra=`` and is logged.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_PLAIN = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp (UTC, ISO 8601), level, logger, message, request_id, the
    record's ``extra`` fields and, for an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or current_request_id(),
        }
        for key, value in record.__dict__.items():
            # Plain values only: an object's repr (django.request's request: its query string) could
            # hold what must never be logged.
            if key not in _RECORD_ATTRS and key not in line and isinstance(value, _PLAIN):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_format() -> str:
    """``LLMAAS_LOG_FORMAT``: "json" (the default) or "text" (for a developer's terminal)."""
    value = os.environ.get("LLMAAS_LOG_FORMAT", "json").strip().lower()
    if value not in ("json", "text"):
        raise ValueError(f"LLMAAS_LOG_FORMAT must be json or text, not {value!r}")
    return value


def formatter(fmt: str | None = None) -> logging.Formatter:
    return JsonFormatter() if (fmt or log_format()) == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str | None = None, loggers: tuple[str, ...] = ("llmaas",)) -> None:
    """One stderr handler (JSON or text) with the request id filter on the named loggers, for the
    processes without Django (the proxy's workers, the shipper)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    handler.addFilter(RequestIdFilter())
    for name in loggers:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(level or os.environ.get("LLMAAS_LOG_LEVEL", "INFO"))
