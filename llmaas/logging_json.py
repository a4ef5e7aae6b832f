"""Django's side of the JSON logs (inference/proxy/logs.py has the formatter and the id's rules).

``settings.LOGGING`` formats every record with ``JsonFormatter`` (``LLMAAS_LOG_FORMAT=json``, the
default) or as text, and ``RequestIdFilter`` puts the id of the request being handled (read by
``request_meta.RequestMetaMiddleware``) on each record. Gunicorn's own lines (its access log, its
master's messages) go through ``GunicornLogger``: ``gunicorn --logger-class
llmaas.logging_json.GunicornLogger``. Celery's worker and beat use ``settings.LOGGING`` too
(llmaas/celery.py).
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from inference.proxy.logs import JsonFormatter, log_format, valid_request_id
from llmaas.request_meta import current


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record ("" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # django.request's 4xx/5xx lines are written after the middleware returned: their
            # record carries the request, which carries its id.
            request_id = current().request_id or getattr(getattr(record, "request", None), "request_id", "")
            record.request_id = request_id if isinstance(request_id, str) else ""
        return True


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers or ():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


class GunicornLogger(Logger):
    """Gunicorn's logger with JSON lines: its error log's records through ``JsonFormatter`` and one
    access line per request (method, path without its query, status, duration, request id: the
    one Django answered with, else the one nginx sent). With ``LLMAAS_LOG_FORMAT=text``, gunicorn's own."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.json = log_format() == "json"
        if self.json:
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        request_id = valid_request_id(_header(getattr(resp, "headers", ()), "x-request-id")) or valid_request_id(
            environ.get("HTTP_X_REQUEST_ID")
        )
        status = getattr(resp, "status_code", None) or str(getattr(resp, "status", "")).split(" ")[0]
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "request_id": request_id or "",
                "method": method,
                "path": path,
                "status": int(status) if str(status).isdigit() else status,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": getattr(resp, "sent", None),
            },
        )
