"""Rollups and summaries against raw sums over request_logs (real PostgreSQL)."""

from __future__ import annotations

import importlib
import random
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage.models import MonthlyUsage, UsageDaily, UsageDelta, UsageHourly
from usage.rollups import aggregate_usage, deltas_insert
from usage.services import request_logs_ingest
from usage.summary import UsageQuery, floor, plan, quiet_end, step, usage_rows
from usage.tests.factories import Traffic, ingest, priced_models, random_records, raw_rows, record, utc

START, END = utc(2026, 10, 28), utc(2026, 12, 3)
END_USER_DELTAS_MIGRATION = importlib.import_module("usage.migrations.0005_end_user_deltas")


@pytest.fixture
def traffic(db) -> Traffic:
    return Traffic(
        org_id=uuid.uuid4(),
        keys=[uuid.uuid4() for _ in range(3)],
        models=priced_models(),
        end_users=[None, "u-1", "u-2", "u-3"],
        start=START,
        end=END,
    )


def rollup_sums(table: str, org_id) -> dict[object, tuple[int, int, int, int, object]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT bucket, sum(requests), sum(errors), sum(prompt_tokens), sum(completion_tokens), sum(cost) "
            f"FROM {table} WHERE org_id = %s AND level = 0 GROUP BY bucket",
            [org_id],
        )
        return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5]) for r in cursor.fetchall()}


def as_dict(rows):
    return {(r.bucket, r.group): (r.requests, r.errors, r.prompt_tokens, r.completion_tokens, r.cost) for r in rows}


def delta_sums() -> dict[tuple[object, ...], tuple[int, int, int, int, object]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket, org_id, level, key_id, model, end_user, sum(requests), sum(errors), sum(prompt_tokens), "
            "sum(completion_tokens), sum(cost) FROM usage_deltas GROUP BY 1, 2, 3, 4, 5, 6"
        )
        return {tuple(r[:6]): (int(r[6]), int(r[7]), int(r[8]), int(r[9]), r[10]) for r in cursor.fetchall()}


def test_the_ingests_deltas_are_what_deltas_insert_computes_from_the_stored_rows(traffic):
    """The ingest COPYs its rows and computes their deltas in Python (rollups.deltas_of); the
    idempotent path (a batch with stored calls) writes them in SQL (deltas_insert): both must
    give, for the rows stored, what deltas_insert computes from request_logs."""
    records = random_records(traffic, 1200, random.Random(5))
    anonymous = record(traffic.org_id, traffic.keys[0], START + timedelta(hours=2))
    records += [replace(anonymous, org_id=None, key_id=None), replace(anonymous, call_id="no-key", key_id=None)]
    # stored rounded to the microsecond: in the next hour, and so is its delta
    records.insert(0, replace(anonymous, call_id="edge", created_at=START.timestamp() + 3600 - 4e-7))
    assert ingest(records[:700]) == 700  # the COPY path
    again = request_logs_ingest(records=records[600:])  # 100 stored: the idempotent path
    assert (again.inserted, again.duplicates) == (len(records) - 700, 100)
    ingested = delta_sums()
    assert {k[2] for k in ingested} == {0, 1, 2, 3, 4}  # every level, end users included
    UsageDelta.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(deltas_insert("(SELECT * FROM request_logs) AS r"))
    assert delta_sums() == ingested


def test_it_rolls_up_every_hour_day_and_month_to_the_raw_sums(traffic):
    ingest(random_records(traffic, 3000, random.Random(1)))
    result = aggregate_usage(chunk=200)  # several chunks
    assert result.hours > 200 and not result.busy
    assert not UsageDelta.objects.exists()
    for table, unit in (("usage_hourly", "hour"), ("usage_daily", "day"), ("monthly_usage", "month")):
        expected = {b: v for (b, _), v in raw_rows(traffic.org_id, START, END, unit).items()}
        assert rollup_sums(table, traffic.org_id) == expected, table
    # Every level of the cube adds up to the same totals; each keeps only its own dimensions.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT level, sum(requests), sum(cost), count(DISTINCT key_id), count(DISTINCT model), "
            "count(DISTINCT end_user) FROM usage_daily WHERE org_id = %s GROUP BY level ORDER BY level",
            [traffic.org_id],
        )
        levels = cursor.fetchall()
    assert [row[0] for row in levels] == [0, 1, 2, 3, 4]
    assert {(row[1], row[2]) for row in levels} == {(3000, levels[0][2])}
    assert [row[3:] for row in levels] == [(3, 3, 1), (0, 1, 4), (0, 1, 1), (0, 3, 1), (3, 1, 1)]


def rollup_rows() -> list[list[tuple]]:
    """Every rollup row of every table, without ids, in one order."""
    fields = ("bucket", "level", "key_id", "model", "end_user", "requests", "errors", "prompt_tokens",
              "completion_tokens", "cost")  # fmt: skip
    return [
        sorted(tuple(str(v) for v in row) for row in m.objects.values_list(*fields))
        for m in (UsageHourly, UsageDaily, MonthlyUsage)
    ]


def test_aggregating_again_changes_nothing(traffic):
    ingest(random_records(traffic, 500, random.Random(2)))
    aggregate_usage()
    before = rollup_rows()
    assert aggregate_usage().hours == 0
    hours = UsageHourly.objects.values_list("bucket", flat=True).distinct()[:50]
    # Empty deltas: the hours count as dirty, and their totals do not change.
    zero = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0, "model": ""}
    UsageDelta.objects.bulk_create(UsageDelta(org_id=traffic.org_id, bucket=h, level=2, **zero) for h in hours)
    assert aggregate_usage().hours == 50  # a recompute of the same hours
    assert rollup_rows() == before


def test_late_rows_reopen_their_hour_and_the_summary_counts_them_before_the_rollup(traffic):
    ingest(random_records(traffic, 300, random.Random(3)))
    aggregate_usage()
    late = utc(2026, 11, 5, 14, 30)
    ingest([record(traffic.org_id, traffic.keys[0], late, prompt_tokens=1000, completion_tokens=0) for _ in range(3)])
    assert UsageDelta.objects.filter(bucket=utc(2026, 11, 5, 14), level=2).exists()
    query = UsageQuery(traffic.org_id, START, END, "month")
    expected = raw_rows(traffic.org_id, START, END, "month")
    assert as_dict(usage_rows(query)) == expected  # the dirty hour: its rollup plus its deltas
    aggregate_usage()
    assert as_dict(usage_rows(query)) == expected
    assert rollup_sums("monthly_usage", traffic.org_id)[utc(2026, 11, 1)] == expected[(utc(2026, 11, 1), None)]


def test_the_plan_reads_whole_buckets_and_adds_the_deltas_of_dirty_hours():
    pieces = plan(utc(2026, 10, 31, 22, 30), utc(2027, 1, 1), "total", [utc(2026, 11, 10, 7)]).ranges
    assert dict(pieces) == {
        ("month", 1): [(utc(2026, 11, 1), utc(2027, 1, 1))],
        ("delta", 1): [(utc(2026, 11, 10, 7), utc(2026, 11, 10, 8))],
        ("raw", 1): [(utc(2026, 10, 31, 22, 30), utc(2026, 10, 31, 23))],
        ("hour", 1): [(utc(2026, 10, 31, 23), utc(2026, 11, 1))],
    }


def test_without_deltas_the_plan_swaps_a_dirty_hours_stale_rollup_for_its_rows():
    dirty = [utc(2026, 11, 10, 7)]
    pieces = plan(utc(2026, 10, 31, 22, 30), utc(2027, 1, 1), "total", dirty, deltas=False).ranges
    assert dict(pieces) == {
        ("month", 1): [(utc(2026, 11, 1), utc(2027, 1, 1))],  # November despite its dirty hour…
        ("hour", -1): [(utc(2026, 11, 10, 7), utc(2026, 11, 10, 8))],  # …minus that hour's stale rollup
        ("raw", 1): [(utc(2026, 10, 31, 22, 30), utc(2026, 10, 31, 23)), (utc(2026, 11, 10, 7), utc(2026, 11, 10, 8))],
        ("hour", 1): [(utc(2026, 10, 31, 23), utc(2026, 11, 1))],
    }


def test_a_bucket_cut_near_its_edge_is_the_whole_bucket_minus_the_outside():
    pieces = plan(utc(2026, 11, 1, 3), utc(2026, 12, 1), "month", []).ranges
    assert dict(pieces) == {("month", 1): [(utc(2026, 11, 1), utc(2026, 12, 1))],
                            ("hour", -1): [(utc(2026, 11, 1), utc(2026, 11, 1, 3))]}  # fmt: skip


def _times(unit_minutes: int) -> st.SearchStrategy:
    span = int((END - START).total_seconds() // 60) + 2 * 1440
    return st.integers(min_value=0, max_value=span // unit_minutes).map(
        lambda n: START - timedelta(days=1) + timedelta(minutes=n * unit_minutes)
    )


# Any minute, and bucket-aligned times (where whole rollup buckets are used).
times = st.one_of(_times(1), _times(60), _times(1440))


@pytest.fixture
def half_rolled(traffic):
    """Traffic rolled up, then more of it (old hours and new ones) not rolled up yet."""
    ingest(random_records(traffic, 1500, random.Random(4)))
    aggregate_usage()
    ingest(random_records(traffic, 400, random.Random(5)))
    assert UsageDelta.objects.exists()
    return traffic


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=times,
    b=times,
    granularity=st.sampled_from(["hour", "day", "month", "total"]),
    group_by=st.sampled_from([None, "model", "key", "end_user"]),
    key_filter=st.booleans(),
    model_filter=st.booleans(),
)
def test_summaries_equal_raw_sums_over_random_ranges_including_the_unrolled_tail(
    half_rolled, a, b, granularity, group_by, key_filter, model_filter
):
    t = half_rolled
    start, end = min(a, b), max(a, b)
    if granularity == "hour":
        end = min(end, start + timedelta(days=10))
    keys = t.keys[:2] if key_filter else None
    models = t.models[1:] if model_filter else None
    query = UsageQuery(t.org_id, start, end, granularity, group_by, key_ids=keys, models=models)
    assert as_dict(usage_rows(query)) == raw_rows(t.org_id, start, end, granularity, group_by, keys, models)


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(min_value=0, max_value=70 * 24 * 60),
    b=st.integers(min_value=0, max_value=70 * 24 * 60),
    granularity=st.sampled_from(["hour", "day", "month", "total"]),
    dirty=st.sets(st.integers(min_value=0, max_value=70 * 24), max_size=30),
    deltas=st.booleans(),
)
def test_the_plan_counts_every_moment_of_the_range_once_and_nothing_else(a, b, granularity, dirty, deltas):
    """The plan's algebra without a database. A row of an hour is either in the hour's rollup or
    (dirty hours only) among its deltas; a rollup piece counts the rolled rows of the hours it
    spans, a delta piece the unrolled rows of its hour, a raw piece every row in its interval.
    Every row inside [start, end) must count exactly once, every row outside not at all."""
    origin = utc(2026, 10, 20)
    start, end = sorted((origin + timedelta(minutes=a), origin + timedelta(minutes=b)))
    if granularity == "hour":
        end = min(end, start + timedelta(days=12))
    hours = sorted(origin + timedelta(hours=h) for h in dirty)
    pieces = plan(start, end, granularity, hours, deltas=deltas).ranges
    breakpoints = {start, end} | {
        floor(start, "hour") + timedelta(hours=i) for i in range(-2, int((end - start).total_seconds() // 3600) + 3)
    }
    for moment in sorted(breakpoints):
        hour = floor(moment, "hour")
        for rolled in (True, False):
            if not rolled and hour not in hours:
                continue  # a clean hour has no unrolled rows
            count = 0
            for (source, weight), ranges in pieces.items():
                for lo, hi in ranges:
                    if source == "raw":
                        count += weight * (lo <= moment < hi)
                    elif source == "delta":
                        count += weight * (not rolled and lo <= hour < hi)
                    else:
                        count += weight * (rolled and lo <= hour < hi)
            assert count == (start <= moment < end), (moment, rolled, dict(pieces))


@pytest.fixture
def recent(db) -> Traffic:
    """Traffic over the last 40 days up to now, rolled up, then a tail not rolled up yet."""
    now = timezone.now()
    t = Traffic(uuid.uuid4(), [uuid.uuid4() for _ in range(2)], priced_models(), [None, "u-1", "u-2"],
                now - timedelta(days=40), now)  # fmt: skip
    ingest(random_records(t, 800, random.Random(6)))
    aggregate_usage()
    ingest(random_records(replace(t, start=now - timedelta(hours=3)), 100, random.Random(7)))
    return t


@pytest.mark.parametrize("granularity", ["hour", "day", "month", "total"])
@pytest.mark.parametrize("group_by", [None, "end_user", "model"])
def test_a_range_ending_now_is_summed_with_its_whole_last_bucket_and_stays_exact(recent, granularity, group_by):
    now = timezone.now()
    start = now - timedelta(days=2 if granularity == "hour" else 30)
    query = UsageQuery(recent.org_id, start, now + timedelta(seconds=1), granularity, group_by)
    # No call after the range: its end moves to its coarsest bucket's end (one whole bucket, not hours up to now).
    assert quiet_end(query, now) == step(floor(query.end, {"hour": "hour", "day": "day"}.get(granularity, "month")),
                                         {"hour": "hour", "day": "day"}.get(granularity, "month"))  # fmt: skip
    expected = raw_rows(recent.org_id, query.start, query.end, granularity, group_by)
    assert as_dict(usage_rows(query)) == expected

    # A call stamped after the range (a proxy's clock ahead) stops the end at the last boundary before it…
    ahead = floor(query.end, "hour") + timedelta(hours=2, minutes=10)
    ingest([record(recent.org_id, recent.keys[0], ahead, end_user="u-9", model="beta")])
    moved = quiet_end(query, now)
    assert moved <= ahead
    assert moved in {step(floor(query.end, unit), unit) for unit in ("hour", "day", "month")}
    # …and is never counted.
    assert as_dict(usage_rows(query)) == expected


def test_a_range_older_than_a_day_keeps_its_end(recent):
    # Older rows may be deleted by retention while their rollups stay: request_logs cannot tell the gap is empty.
    end = timezone.now() - timedelta(days=2)
    query = UsageQuery(recent.org_id, end - timedelta(days=5), end, "total")
    assert quiet_end(query, timezone.now()) == end


def test_the_migration_gives_hours_dirtied_before_end_user_deltas_theirs(half_rolled):
    """Deltas written before end users had any (usage 0005): their hours' end-user summaries would
    miss the unrolled rows; the migration adds, per end user, the rows minus the stale rollup."""
    t = half_rolled
    UsageDelta.objects.filter(level=1).delete()  # as the ingest wrote them before
    query = UsageQuery(t.org_id, START, END, "day", "end_user")
    expected = raw_rows(t.org_id, START, END, "day", "end_user")
    assert as_dict(usage_rows(query)) != expected
    with connection.cursor() as cursor:
        cursor.execute(END_USER_DELTAS_MIGRATION.DIRTY_HOURS_END_USER_DELTAS)
    assert as_dict(usage_rows(query)) == expected
    aggregate_usage()
    assert not UsageDelta.objects.exists()
    assert as_dict(usage_rows(query)) == expected
