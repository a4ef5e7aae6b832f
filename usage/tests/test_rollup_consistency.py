"""Rollups stay exact while calls are ingested during the aggregation, and a late record never
rewrites an hour whose rows retention already deleted (real PostgreSQL, real threads)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization
from usage.models import RetentionPolicy
from usage.retention import retention_apply
from usage.rollups import aggregate_usage
from usage.summary import UsageQuery, floor, usage_rows
from usage.tests.factories import ingest, priced_models, raw_rows, record
from webhooks.tests.test_litellm_webhook import batch, post


def summary(org_id, start, end):
    rows = usage_rows(UsageQuery(org_id, start, end, "hour"))
    return {(r.bucket, r.group): (r.requests, r.errors, r.prompt_tokens, r.completion_tokens, r.cost) for r in rows}


def in_thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def consistent(org_id, start, end) -> tuple[dict, dict]:
    """The summary and the raw sums, read in one snapshot."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return summary(org_id, start, end), raw_rows(org_id, start, end, "hour")


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"{path.name} never appeared"
    path.unlink()


def test_rows_committed_while_an_aggregation_runs_are_counted_once(transactional_db, settings, tmp_path: Path):
    """The aggregation takes an hour's deltas, then recomputes the hour: rows committed in
    between must be either in the recompute or in the deltas left for the next run, never both
    (the next chunk heals it, but until then summaries and budget checks count them twice)."""
    settings.TEST_HOOKS_DIR = str(tmp_path)
    priced_models()
    org, key = uuid.uuid4(), uuid.uuid4()
    hour = floor(timezone.now() - timedelta(hours=3), "hour")
    start, end = hour - timedelta(days=1), hour + timedelta(days=1)
    ingest([record(org, key, hour + timedelta(minutes=i)) for i in range(5)])
    (tmp_path / "aggregate.taken.arm").touch()
    aggregation = in_thread(aggregate_usage)
    wait_for(tmp_path / "aggregate.taken.paused")
    ingest([record(org, key, hour + timedelta(minutes=30 + i)) for i in range(3)])  # commits now
    (tmp_path / "aggregate.taken.arm").touch()  # pause again in the next chunk, after this one committed
    (tmp_path / "aggregate.taken.release").touch()
    wait_for(tmp_path / "aggregate.taken.paused")
    seen, expected = consistent(org, start, end)
    (tmp_path / "aggregate.taken.release").touch()
    aggregation.join(30)
    assert expected[(hour, None)][0] == 8
    assert seen == expected
    assert summary(org, start, end) == expected


def test_summaries_equal_the_raw_rows_while_ingest_runs_during_aggregations(transactional_db):
    priced_models()
    org, keys = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    base = floor(timezone.now() - timedelta(hours=6), "hour")
    start, end = base - timedelta(days=1), base + timedelta(days=1)
    stop = threading.Event()

    def ingest_loop(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            ingest([record(org, rng.choice(keys), base + timedelta(minutes=rng.randrange(240)),
                           prompt_tokens=rng.randrange(100)) for _ in range(20)])  # fmt: skip

    def aggregate_loop() -> None:
        while not stop.is_set():
            aggregate_usage()

    threads = [in_thread(lambda: ingest_loop(1)), in_thread(lambda: ingest_loop(2)), in_thread(aggregate_loop)]
    mismatches, checks = 0, 0
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            seen, expected = consistent(org, start, end)
            checks += 1
            mismatches += seen != expected
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert checks > 5 and mismatches == 0, f"{mismatches} of {checks} summaries differed from the raw rows"
    aggregate_usage()
    assert consistent(org, start, end)[0] == raw_rows(org, start, end, "hour")


@pytest.mark.parametrize("kept_days", [30, None])  # the organization's retention, or the platform's
def test_a_record_older_than_retention_is_rejected_and_leaves_its_hour_alone(db, settings, kept_days):
    priced_models()
    org = Organization.objects.create(name="late")
    if kept_days:
        RetentionPolicy.objects.create(organization=org, log_retention_days=kept_days)
    days = kept_days or settings.LOG_RETENTION_DAYS
    hour = floor(timezone.now() - timedelta(days=days + 5), "hour")
    key = uuid.uuid4()
    ingest([record(org.id, key, hour + timedelta(minutes=i)) for i in range(10)])
    aggregate_usage()
    retention_apply()  # the hour's rows are gone; its rollup stays
    start, end = hour, hour + timedelta(hours=1)
    rolled = summary(org.id, start, end)
    assert rolled[(hour, None)][0] == 10
    late = record(org.id, key, hour + timedelta(minutes=50))
    answer = post(batch({"v": 1, **late.__dict__})).json()
    aggregate_usage()
    assert summary(org.id, start, end) == rolled  # stored, it would have been the hour's only row
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(0, "late")]


def test_a_record_in_the_hour_retention_cut_in_two_is_rejected_as_late(db, monkeypatch):
    """Retention deletes rows older than its cutoff, which falls inside an hour: the rows of that
    hour after the cutoff stay, the earlier ones are gone. A record late in that hour is still
    within retention, but storing it would recompute the hour from the rows left and wipe the
    deleted part of its rollup: it is late too (its hour starts before the cutoff)."""
    from types import SimpleNamespace

    from usage import services

    priced_models()
    org = Organization.objects.create(name="cut")
    RetentionPolicy.objects.create(organization=org, log_retention_days=30)
    now = floor(timezone.now() - timedelta(hours=2), "hour") + timedelta(minutes=30)
    hour = floor(now - timedelta(days=30), "hour")  # retention's cutoff is this hour + 30 minutes
    key = uuid.uuid4()
    ingest([record(org.id, key, hour + timedelta(minutes=m)) for m in (10, 20, 40, 50)])
    aggregate_usage()
    assert retention_apply(now=now).logs_deleted == 2  # minutes 10 and 20
    start, end = hour, hour + timedelta(hours=1)
    rolled = summary(org.id, start, end)
    assert rolled[(hour, None)][0] == 4
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now.timestamp() + 5))  # the ingest's clock
    late = record(org.id, key, hour + timedelta(minutes=45))  # after the cutoff, in the cut hour
    answer = post(batch({"v": 1, **late.__dict__})).json()
    aggregate_usage()
    assert summary(org.id, start, end) == rolled
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(0, "late")]
