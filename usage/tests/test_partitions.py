"""Monthly partitions of request_logs and retention (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from usage.models import ChatHistory, RequestLog, RetentionPolicy, UsageDaily
from usage.partitions import DEFAULT, add_months, month_start, partition_name, partitions, partitions_ensure
from usage.retention import retention_apply
from usage.rollups import aggregate_usage
from usage.tests.factories import ingest, priced_models, record, utc


def where(call_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM request_logs WHERE call_id = %s", [call_id])
        return str(cursor.fetchone()[0])


def test_partitions_are_created_ahead_and_creating_them_again_changes_nothing(db):
    this_month = month_start(timezone.now())
    partitions_ensure(ahead=5)
    names = {p.name for p in partitions()}
    assert {partition_name(add_months(this_month, i)) for i in range(6)} <= names
    assert partitions_ensure(ahead=5) == []


def test_a_row_no_partition_covers_lands_in_the_default_and_moves_when_its_month_gets_one(db):
    priced_models()
    org = uuid.uuid4()
    far = record(org, uuid.uuid4(), utc(2031, 5, 17, 12), call_id="far-future")
    assert ingest([far]) == 1
    assert where("far-future") == DEFAULT
    assert partitions_ensure(start=utc(2031, 5, 1), end=utc(2031, 5, 1)) == ["request_logs_p203105"]
    assert where("far-future") == "request_logs_p203105"
    assert RequestLog.objects.filter(call_id="far-future").count() == 1
    assert ingest([far]) == 0  # still exactly once


def test_retention_drops_old_partitions_and_applies_shorter_org_policies(team, settings):
    settings.LOG_RETENTION_DAYS, settings.CHAT_RETENTION_DAYS = 60, 30
    now = timezone.now()
    old_month = month_start(now - timedelta(days=120))
    partitions_ensure(start=old_month)
    short, other = team.org, uuid.uuid4()
    RetentionPolicy.objects.create(organization=short, log_retention_days=10, chat_retention_days=5)
    chat = {"messages": [{"role": "user", "content": "x"}], "response": None}
    rows = [
        record(short.id, team.keys["alice"].id, old_month + timedelta(days=3), call_id="ancient"),
        record(short.id, team.keys["alice"].id, now - timedelta(days=20), call_id="short-expired", chat=chat),
        record(short.id, team.keys["alice"].id, now - timedelta(days=2), call_id="short-kept", chat=chat),
        record(other, uuid.uuid4(), now - timedelta(days=20), call_id="other-kept", chat=chat),
        record(other, uuid.uuid4(), now - timedelta(days=40), call_id="other-chat-expired", chat=chat),
    ]
    ingest(rows)
    aggregate_usage()
    rolled = UsageDaily.objects.filter(org_id=short.id, level=0).count()

    result = retention_apply(now=now)
    assert partition_name(old_month) in result.partitions_removed
    left = set(RequestLog.objects.values_list("call_id", flat=True))
    assert left == {"short-kept", "other-kept", "other-chat-expired"}
    assert set(ChatHistory.objects.values_list("call_id", flat=True)) == {"short-kept", "other-kept"}
    assert UsageDaily.objects.filter(org_id=short.id, level=0).count() == rolled  # rollups outlive logs
    assert retention_apply(now=now).logs_deleted == 0


def test_retention_can_detach_partitions_to_archive_them(db, settings):
    settings.LOG_RETENTION_DAYS, settings.RETENTION_DETACH_ONLY = 30, True
    now = timezone.now()
    old_month = month_start(now - timedelta(days=100))
    partitions_ensure(start=old_month)
    priced_models()
    ingest([record(uuid.uuid4(), uuid.uuid4(), old_month + timedelta(hours=5), call_id="archived")])
    retention_apply(now=now)
    assert not RequestLog.objects.filter(call_id="archived").exists()
    archive = partition_name(old_month).replace("_p", "_archive_p", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT call_id FROM {archive}")
        assert cursor.fetchall() == [("archived",)]
