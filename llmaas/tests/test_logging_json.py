"""JSON log lines with the request id: Django's middleware, filter and formatter, and gunicorn's access line."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from inference.proxy.logs import JsonFormatter, valid_request_id
from llmaas.logging_json import GunicornLogger, RequestIdFilter
from llmaas.request_meta import RequestMetaMiddleware

log = logging.getLogger("llmaas.tests.request")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines():
    handler = Lines()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler.lines
    log.removeHandler(handler)


def view(request: HttpRequest) -> HttpResponse:
    log.info("handling %s", request.path, extra={"detail": 7})
    return HttpResponse("ok")


def test_it_logs_the_clients_request_id_and_answers_with_it(lines):
    request = RequestFactory().get("/api/health", HTTP_X_REQUEST_ID="client-chosen.id:42")
    response = RequestMetaMiddleware(view)(request)
    assert response["X-Request-ID"] == "client-chosen.id:42"
    [line] = lines
    assert line["request_id"] == "client-chosen.id:42"
    assert line["message"] == "handling /api/health"
    assert line["level"] == "INFO" and line["logger"] == "llmaas.tests.request" and line["detail"] == 7
    assert str(line["timestamp"]).endswith("+00:00")


@pytest.mark.parametrize("bad", ["x" * 65, "has space", "new\nline", "-leading-dash", "ünïcode", ""])
def test_it_replaces_a_malformed_request_id(lines, bad):
    request = RequestFactory().get("/api/health", HTTP_X_REQUEST_ID=bad)
    response = RequestMetaMiddleware(view)(request)
    own = response["X-Request-ID"]
    assert own != bad and valid_request_id(own) == own and len(own) == 32
    assert lines[0]["request_id"] == own


def test_it_logs_an_empty_request_id_outside_a_request_and_keeps_the_traceback(lines):
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    [line] = lines
    assert line["request_id"] == "" and "ValueError: boom" in str(line["exc_info"])


def test_it_writes_gunicorns_access_line_as_json_with_djangos_request_id(capsys, monkeypatch):
    monkeypatch.setenv("LLMAAS_LOG_FORMAT", "json")
    cfg = SimpleNamespace(
        errorlog="-", accesslog="-", loglevel="info", syslog=False, logconfig=None, logconfig_dict={},
        logconfig_json=None, capture_output=False, disable_redirect_access_to_syslog=False,
        access_log_format="", user=0, group=0,
    )  # fmt: skip
    logger = GunicornLogger(cfg)
    response = SimpleNamespace(status_code=201, headers=[("X-Request-ID", "abc123")], sent=17)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/keys", "QUERY_STRING": "code=secret"}
    logger.access(response, None, environ, timedelta(milliseconds=12))
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["request_id"] == "abc123" and line["status"] == 201 and line["path"] == "/api/keys"
    assert "secret" not in json.dumps(line)  # the query string (OAuth codes, …) is never logged


def test_it_puts_the_request_id_on_djangos_late_lines_and_never_logs_the_request_object(lines):
    """django.request logs a 4xx after the middleware returned; its record carries the request,
    whose repr has the query string (an OAuth code, a token): the id is kept, the repr is not."""
    request = RequestFactory().get("/o/authorize/?code=secret-code", HTTP_X_REQUEST_ID="late-line")
    RequestMetaMiddleware(view)(request)
    log.warning("Not Found: %s", request.path, extra={"status_code": 404, "request": request})
    line = lines[-1]
    assert line["request_id"] == "late-line" and line["status_code"] == 404
    assert "request" not in line and "secret-code" not in json.dumps(line)
