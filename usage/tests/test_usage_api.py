"""The usage API: summaries, logs, chats, notifications, retention (real PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from inference.proxy.contract import UsageRecord
from usage.apis import SummaryRenderer
from usage.models import ChatHistory, Notification, RetentionPolicy
from usage.rollups import aggregate_usage
from usage.tests.factories import ingest, record

NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def usage(team):
    """Calls of both keys over three days, half rolled up, and chats for dave's key."""
    org, keys = team.org, team.keys
    records = []
    for i in range(60):
        key = keys["alice"] if i % 3 else keys["dave"]
        when = NOW - timedelta(hours=i)
        status = "failure" if i % 7 == 0 else "success"
        records.append(record(org.id, key.id, when, model=("alpha", "beta")[i % 2], status=status,
                              end_user=f"u{i % 4}", prompt_tokens=100 + i, completion_tokens=10 + i))  # fmt: skip
    ingest(records[:40])
    aggregate_usage()
    ingest(records[40:])
    chat = {"messages": [{"role": "user", "content": "hi"}], "response": {"content": "hello"}}
    ingest([UsageRecord(**{**record(org.id, keys["dave"].id, NOW - timedelta(minutes=m)).__dict__, "chat": chat})
            for m in range(1, 6)])  # fmt: skip
    return records


def summary(api, user, org, **params):
    return api(user, org).get("/api/usage/summary", params)


def test_the_summary_adds_up_to_the_calls_for_every_grouping(team, usage, api):
    alice = team.people["alice"]
    params = {"start": (NOW - timedelta(days=4)).isoformat(), "end": (NOW + timedelta(hours=1)).isoformat()}
    total = summary(api, alice, team.org, granularity="total", **params).json()
    assert total["totals"]["requests"] == 65
    for group_by in ("model", "key", "end_user"):
        body = summary(api, alice, team.org, granularity="day", group_by=group_by, **params).json()
        assert sum(r["requests"] for r in body["results"]) == 65
        assert sum(Decimal(r["cost_usd"]) for r in body["results"]) == Decimal(total["totals"]["cost_usd"])
    by_model = summary(api, alice, team.org, granularity="total", group_by="model", **params).json()["results"]
    assert {r["group"] for r in by_model} == {"alpha", "beta"}


def test_the_summary_pages_with_a_cursor(team, usage, api):
    alice = team.people["alice"]
    start = (NOW - timedelta(days=4)).isoformat()
    full = summary(api, alice, team.org, granularity="hour", start=start, limit=1000).json()["results"]
    assert len(full) > 10
    pages, url = [], None
    client = api(alice, team.org)
    response = client.get("/api/usage/summary", {"granularity": "hour", "start": start, "limit": 7})
    while True:
        body = response.json()
        pages += body["results"]
        url = body["next"]
        if not url:
            break
        response = client.get(url)
    assert pages == full


def test_members_see_only_their_keys_usage_and_viewers_see_all(team, usage, api):
    p, org, keys = team.people, team.org, team.keys
    start = (NOW - timedelta(days=4)).isoformat()
    dave = summary(api, p["dave"], org, granularity="total", start=start).json()["totals"]["requests"]
    everyone = summary(api, p["bob"], org, granularity="total", start=start).json()["totals"]["requests"]
    assert (dave, everyone) == (20 + 5, 65)
    assert summary(api, p["erin"], org, granularity="total", start=start).status_code == 200
    refused = summary(api, p["dave"], org, key=str(keys["alice"].id))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_key_creator"
    assert summary(api, p["dave"], org, key=str(keys["dave"].id)).status_code == 200
    missing = summary(api, p["alice"], org, key=str(uuid.uuid4()))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"
    assert summary(api, p["charlie"], org).status_code == 404  # not a member of org A


@pytest.mark.parametrize(
    "params",
    [
        {"granularity": "week"},
        {"start": "2026-12-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        {"granularity": "hour", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        {"start": "0001-01-01T00:00:00Z"},
        {"start": "not a date"},
        {"group_by": "colour"},
        {"key": "not-a-uuid"},
        {"cursor": "!!!"},
        {"limit": "0"},
    ],
)
def test_bad_summary_parameters_get_a_clear_400(team, api, params):
    response = summary(api, team.people["alice"], team.org, **params)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"invalid_request", "invalid_cursor"}


def test_logs_filter_and_page_newest_first(team, usage, api):
    client = api(team.people["alice"], team.org)
    body = client.get("/api/usage/logs", {"limit": 10}).json()
    times = [r["created_at"] for r in body["results"]]
    assert len(times) == 10 and times == sorted(times, reverse=True) and body["next"]
    rows, url = [], "/api/usage/logs?limit=25"
    while url:
        page = client.get(url).json()
        rows += page["results"]
        url = page["next"]
    assert len(rows) == 65 and len({r["call_id"] for r in rows}) == 65
    failures = client.get("/api/usage/logs", {"status": "failure", "model": "alpha", "limit": 100}).json()["results"]
    assert failures and all(r["status"] == "failure" and r["model"] == "alpha" for r in failures)
    one_key = client.get("/api/usage/logs", {"key": str(team.keys["dave"].id), "limit": 100}).json()["results"]
    assert len(one_key) == 25 and {r["key_id"] for r in one_key} == {str(team.keys["dave"].id)}
    window = client.get("/api/usage/logs", {"start": (NOW - timedelta(hours=5)).isoformat(), "limit": 100}).json()
    assert all(
        r["created_at"] >= (NOW - timedelta(hours=5)).isoformat().replace("+00:00", "Z") for r in window["results"]
    )
    assert client.get("/api/usage/logs", {"status": "weird"}).status_code == 400
    member = api(team.people["dave"], team.org).get("/api/usage/logs", {"limit": 100}).json()["results"]
    assert {r["key_id"] for r in member} == {str(team.keys["dave"].id)}


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_exports_hold_the_same_rows_as_the_list(team, usage, api, fmt):
    client = api(team.people["alice"], team.org)
    response = client.get("/api/usage/logs/export", {"format": fmt, "model": "beta"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    raw = b"".join(response.streaming_content).decode()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(raw)))
    elif fmt == "json":
        rows = json.loads(raw)
    else:
        rows = [json.loads(line) for line in raw.splitlines()]
    listed = client.get("/api/usage/logs", {"model": "beta", "limit": 1000}).json()["results"]
    assert sorted(r["call_id"] for r in rows) == sorted(r["call_id"] for r in listed)
    assert sum(Decimal(r["cost_usd"]) for r in rows) == sum(Decimal(r["cost_usd"]) for r in listed)
    assert sum(int(r["prompt_tokens"]) for r in rows) == sum(r["prompt_tokens"] for r in listed)


def test_an_empty_export_is_still_valid(team, api):
    client = api(team.people["alice"], team.org)
    for fmt, check in (("json", lambda raw: json.loads(raw) == []), ("ndjson", lambda raw: raw == ""),
                       ("csv", lambda raw: raw.startswith("created_at,call_id") and raw.count("\n") == 1)):  # fmt: skip
        response = client.get("/api/usage/logs/export", {"format": fmt})
        assert check(b"".join(response.streaming_content).decode()), fmt


def test_a_bad_export_format_is_a_json_400(team, api):
    response = api(team.people["alice"], team.org).get("/api/usage/logs/export", {"format": "xlsx"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_the_summary_export_matches_the_summary(team, usage, api):
    client = api(team.people["alice"], team.org)
    params = {"granularity": "day", "group_by": "model", "start": (NOW - timedelta(days=4)).isoformat()}
    listed = client.get("/api/usage/summary", params).json()["results"]
    exported = json.loads(
        b"".join(client.get("/api/usage/summary/export", {**params, "format": "json"}).streaming_content)
    )
    assert [(r["group"], r["requests"], r["cost_usd"]) for r in exported] == [
        (r["group"], r["requests"], r["cost_usd"]) for r in listed
    ]


def test_chats_are_listed_per_key_and_members_see_only_theirs(team, usage, api):
    p, org, keys = team.people, team.org, team.keys
    chats = api(p["alice"], org).get("/api/chats/", {"key": str(keys["dave"].id)}).json()["results"]
    assert len(chats) == 5 and chats[0]["messages"][0]["content"] == "hi"
    assert len(api(p["dave"], org).get("/api/chats/").json()["results"]) == 5
    assert api(p["dave"], org).get("/api/chats/", {"key": str(keys["alice"].id)}).status_code == 403
    assert api(p["bob"], org).get("/api/chats/").status_code == 403  # viewers read usage, not conversations
    exported = b"".join(api(p["alice"], org).get("/api/chats/export", {"format": "ndjson"}).streaming_content)
    assert [json.loads(line)["messages"][0]["content"] for line in exported.splitlines()] == ["hi"] * 5


def test_chat_deletion_needs_the_right_role_and_a_criterion(team, usage, api):
    p, org, keys = team.people, team.org, team.keys
    assert (
        api(p["dave"], org).post("/api/chats/delete", {"key": str(keys["dave"].id)}, format="json").status_code == 403
    )
    empty = api(p["alice"], org).post("/api/chats/delete", {}, format="json")
    assert empty.status_code == 400 and ChatHistory.objects.count() == 5
    cutoff = (NOW - timedelta(minutes=3)).isoformat()
    older = api(p["frank"], org).post("/api/chats/delete", {"before": cutoff}, format="json")
    assert older.json() == {"deleted": 2}
    rest = api(p["alice"], org).post("/api/chats/delete", {"key": str(keys["dave"].id)}, format="json")
    assert rest.json() == {"deleted": 3} and not ChatHistory.objects.exists()


def test_notifications_are_per_recipient_and_can_be_marked_read(team, api):
    p, org = team.people, team.org
    mine = Notification.objects.create(organization=org, recipient=p["alice"], kind="x", title="t", body="b")
    theirs = Notification.objects.create(organization=org, recipient=p["frank"], kind="x", title="t2", body="b")
    listed = api(p["alice"], org).get("/api/notifications/").json()["results"]
    assert [n["id"] for n in listed] == [mine.id]
    assert api(p["alice"], org).post(f"/api/notifications/{theirs.id}/read").status_code == 404
    assert api(p["alice"], org).post(f"/api/notifications/{2**64}/read").status_code == 404
    read = api(p["alice"], org).post(f"/api/notifications/{mine.id}/read")
    assert read.status_code == 200 and read.json()["read_at"]
    assert api(p["alice"], org).get("/api/notifications/", {"unread": "true"}).json()["results"] == []
    assert api(p["charlie"], org).get("/api/notifications/").status_code == 404


def test_retention_is_capped_by_the_platform_and_only_admins_change_it(team, api, settings):
    p, org = team.people, team.org
    settings.LOG_RETENTION_DAYS, settings.CHAT_RETENTION_DAYS = 400, 90
    shown = api(p["bob"], org).get("/api/usage/retention").json()
    assert shown["effective_log_retention_days"] == 400 and shown["log_retention_days"] is None
    too_long = api(p["alice"], org).patch("/api/usage/retention", {"log_retention_days": 401}, format="json")
    assert too_long.status_code == 400 and "log_retention_days" in too_long.json()["error"]["details"]
    assert (
        api(p["dave"], org).patch("/api/usage/retention", {"chat_retention_days": 7}, format="json").status_code == 403
    )
    changed = api(p["frank"], org).patch("/api/usage/retention", {"chat_retention_days": 7}, format="json").json()
    assert changed["effective_chat_retention_days"] == 7 and changed["effective_log_retention_days"] == 400
    assert RetentionPolicy.objects.get(organization=org).chat_retention_days == 7
    assert (
        api(p["alice"], org).patch("/api/usage/retention", {"log_retention_days": 0}, format="json").status_code == 400
    )


def test_a_zero_cost_is_written_fixed_point_as_in_the_export():
    from decimal import Decimal

    from usage.apis import _row_body

    row = (None, "alpha", 1, 1, 0, 0, Decimal("0.0000000000"))  # what psycopg returns for a numeric(20,10) zero
    assert _row_body(row)["cost_usd"] == "0.0000000000"  # not str()'s "0E-10"


def test_the_summary_renders_the_same_json_as_drf_does():
    """SummaryRenderer (orjson) in place of DRF's JSONRenderer: the same bytes, and what orjson
    cannot encode (a lazy translation in an error) still renders."""
    now = timezone.now()
    data = {
        "start": now.replace(microsecond=0),
        "end": now,
        "group_by": None,
        "totals": {"requests": 3, "cost_usd": "0.0000012000"},
        "results": [{"bucket": None, "group": 'Zoë ☃ "quoted" \\ back', "requests": 2**40}],
        "next": "http://testserver/api/usage/summary?cursor=abc",
    }
    assert SummaryRenderer().render(data) == JSONRenderer().render(data)
    lazy = {"error": {"message": gettext_lazy("This field is required.")}}
    assert SummaryRenderer().render(lazy) == JSONRenderer().render(lazy)
