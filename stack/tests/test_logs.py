"""JSON log lines and one request id end to end, against the live stack: a call's X-Request-ID is in
nginx's access log, Django's or LiteLLM's log, the response and the call's request_logs row; a
malformed one is replaced by nginx's own. And the secrets canary: after keys, calls and an OAuth
token exchange and refresh, no secret is in any log file of the stack."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from inference.tests.test_data_plane import poll
from stack.testing import oauth_tokens, secrets_in_logs

pytestmark = pytest.mark.stack

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
NGINX_ID = re.compile(r"[0-9a-f]{32}")
LITELLM_BANNER = "\x1b[32m"
# LiteLLM's Prometheus integration prints its processed configuration at start with rich (a
# panel and two tables on stdout, not log records): lines made of its box and header characters.
# django.core.mail.backends.console: each message's headers, body, then 79 dashes.
CONSOLE_MAIL_START = "Content-Type: "
CONSOLE_MAIL_END = "-" * 79
LITELLM_RICH_PRINT = ("╭", "│", "╰", "┏", "┃", "┡", "└", "📊", "🏷")


def lines(e2e: Any, name: str) -> list[dict[str, Any]]:
    """The JSON lines of one log file. A line that is not JSON fails, except what a process prints
    before its logging is set up (a root Celery worker's SecurityWarning), LiteLLM's start-up
    prints (colored lines: the models it loaded; rich tables: its Prometheus configuration) and the
    mails of the dev stack's console email backend (a message, then a line of 79 dashes: the
    developer reads sign-up links there; a mail is not a log record)."""
    out: list[dict[str, Any]] = []
    in_mail = False
    for text in e2e.stack.log(name).read_text(errors="replace").splitlines():
        if not out and not text.startswith("{"):
            continue
        if in_mail or text.startswith(CONSOLE_MAIL_START):
            in_mail = text != CONSOLE_MAIL_END
            continue
        printed = text.startswith(LITELLM_BANNER) or text.lstrip().startswith(LITELLM_RICH_PRINT)
        if text.strip() and not (name == "litellm" and printed):
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError:
                pytest.fail(f"{name}.log has a line that is not JSON: {text[:300]!r}")
    return out


def with_id(e2e: Any, name: str, request_id: str, **fields: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [
            line for line in lines(e2e, name) if line.get("request_id") == request_id and fields.items() <= line.items()
        ]
        return bool(found)

    poll(seen, timeout=10)
    return found


@pytest.fixture(scope="module")
def key(e2e: Any) -> str:
    return str(e2e.create_key(e2e.login(), name="request ids")["secret"])


def test_it_carries_one_request_id_through_nginx_litellm_and_the_request_log(e2e: Any, key: str) -> None:
    request_id = f"e2e-v1-{uuid.uuid4().hex}"
    response = httpx.post(
        f"{e2e.public}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Request-ID": request_id},
        json=CHAT,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers.get_list("x-request-id") == [request_id]  # one header, the client's id
    assert with_id(e2e, "nginx-access", request_id, path="/v1/chat/completions", status=200)
    access = with_id(e2e, "litellm", request_id, logger="llmaas.proxy.access", status=200)
    assert access and access[0]["message"] == "POST /v1/chat/completions 200"
    rows: list[tuple[object, ...]] = []

    def stored() -> bool:
        rows[:] = e2e.sql(SQL_BY_REQUEST_ID, request_id)
        return bool(rows)

    assert poll(stored, timeout=30), "the call's request_logs row never carried its request id"
    assert rows == [("success", "tiny", request_id)]


SQL_BY_REQUEST_ID = "SELECT status, model, request_id FROM request_logs WHERE request_id = %s"


def test_it_carries_one_request_id_through_nginx_and_django(e2e: Any) -> None:
    request_id = f"e2e-api-{uuid.uuid4().hex}"
    session = e2e.login()
    response = session.get("/api/keys/", headers={"X-Request-ID": request_id})
    session.close()
    assert response.status_code == 200, response.text
    assert response.headers.get_list("x-request-id") == [request_id]
    assert with_id(e2e, "nginx-access", request_id, path="/api/keys/", status=200)
    assert with_id(e2e, "django", request_id, logger="gunicorn.access", path="/api/keys/", status=200)

    # Django's own lines carry it too: its 404 warning, written while the request ran.
    missing = f"e2e-404-{uuid.uuid4().hex}"
    assert httpx.get(f"{e2e.public}/api/no-such-thing", headers={"X-Request-ID": missing}).status_code == 404
    assert with_id(e2e, "django", missing, logger="django.request", level="WARNING")


def test_a_task_queued_by_a_request_logs_with_the_requests_id(e2e: Any) -> None:
    """A password reset queues its mail as a Celery task: the worker's lines for that task (Celery's
    own "succeeded" line) carry the id of the request that queued it."""
    request_id = f"e2e-task-{uuid.uuid4().hex}"
    with httpx.Client(base_url=e2e.public, timeout=30) as client:
        client.get("/api/auth/csrf").raise_for_status()
        response = client.post(
            "/api/auth/password-reset",
            json={"email": e2e.stack.state["admin_email"]},
            headers={"X-CSRFToken": client.cookies["csrftoken"], "X-Request-ID": request_id},
        )
    assert response.status_code < 300, response.text
    done = with_id(e2e, "celery-worker", request_id, level="INFO")
    assert any("succeeded" in line["message"] for line in done), done


@pytest.mark.parametrize("bad", ["x" * 65, "has space", 'quote"d', "<script>", "-dash-first", "y" * 4000])
def test_it_replaces_a_malformed_or_huge_request_id_with_nginxs(e2e: Any, key: str, bad: str) -> None:
    response = httpx.get(f"{e2e.public}/v1/models", headers={"Authorization": f"Bearer {key}", "X-Request-ID": bad})
    assert response.status_code == 200
    [own] = response.headers.get_list("x-request-id")
    assert NGINX_ID.fullmatch(own), own
    assert with_id(e2e, "nginx-access", own, path="/v1/models", status=200)
    assert with_id(e2e, "litellm", own, logger="llmaas.proxy.access", status=200)
    for name in ("nginx-access", "litellm"):
        assert bad not in e2e.stack.log(name).read_text(errors="replace")


def test_django_litellm_celery_and_nginx_write_json_lines(e2e: Any) -> None:
    for name in (
        "nginx-access", "django", "django-internal", "litellm", "celery-worker", "celery-beat", "shipper",
        "fleet-agent",
    ):  # fmt: skip
        found = lines(e2e, name)  # fails on a line that is not JSON
        assert found, f"{name}.log is empty"
        assert all({"timestamp", "level", "message"} <= line.keys() for line in found if "component" not in line), name


def test_no_secret_reaches_any_log_canary(e2e: Any, key: str) -> None:
    """Keys (issued, used, refused), the master key, the usage webhook's secret and OAuth tokens
    (exchanged, used, refreshed) appear in no log file, while the requests that carried them do."""
    request_ids = [f"canary-{uuid.uuid4().hex}" for _ in range(4)]
    chat = httpx.post(
        f"{e2e.public}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Request-ID": request_ids[0]},
        json=CHAT,
        timeout=60,
    )
    assert chat.status_code == 200, chat.text
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")  # a near miss: logged as a 401
    refused = httpx.post(
        f"{e2e.public}/v1/chat/completions",
        headers={"Authorization": f"Bearer {wrong}", "X-Request-ID": request_ids[1]},
        json=CHAT,
        timeout=60,
    )
    assert refused.status_code == 401
    state = e2e.stack.state
    tokens = oauth_tokens(
        e2e.public,
        state["admin_email"],
        state["admin_password"],
        client_id="llmaas-portal",
        redirect_uri=f"{e2e.public}/auth/callback",
        scope="openid keys:read",
    )
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": request_ids[2]}
    assert httpx.get(f"{e2e.public}/api/keys/", headers=bearer, timeout=30).status_code == 200
    refreshed = httpx.post(
        f"{e2e.public}/o/token/",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "llmaas-portal"},
        headers={"X-Request-ID": request_ids[3]},
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    secrets = [
        key,
        wrong,
        e2e.stack.master_key(),
        e2e.stack.secret("LLMAAS_WEBHOOK_SECRET"),
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["access_token"],
        refreshed.json()["refresh_token"],
    ]
    e2e.issued.extend(secrets)  # and every later audit checks them too
    # The canary sees what it should: each request is in the logs, by its id.
    for request_id in request_ids:
        assert with_id(e2e, "nginx-access", request_id), request_id
    assert with_id(e2e, "litellm", request_ids[0]) and with_id(e2e, "django", request_ids[2])
    assert secrets_in_logs(e2e, secrets) == {}
