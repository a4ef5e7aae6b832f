"""Rollups: hour, day and month totals per organization, key, model and end user.

The ingest writes, with the rows and in their transaction, the deltas of every (organization,
hour) it touches (``usage_deltas``: what the rows add to that hour's rollup). ``aggregate_usage``
takes a chunk of those hours, deletes their deltas, recomputes the hours from request_logs, then
the days and months that contain them from the finer rollups, all in one transaction that reads
one snapshot (REPEATABLE READ), so a delta taken and a row counted are the same rows: a crash at
any point rolls everything back and the deltas stay, so the next run does the same work again
(idempotent: a recompute, never an increment). Only committed deltas are taken, and a delta
commits with its rows, so no row is ever missed — and an hour's rollup plus its remaining deltas
is always its exact total.

Buckets are UTC hours, days and months (as in OpenAI's usage API). Each bucket holds a small
cube of the organization's totals, one level per question a summary asks (see LEVELS).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from llmaas.testhooks import checkpoint
from usage.summary import floor

log = logging.getLogger(__name__)

# The levels of a bucket's cube: which dimensions a row keeps (the others are summed away; a
# row of level 1 has no key and an empty model, …). Every level adds up to the same totals.
LEVELS = {
    0: ("key", "model"),
    1: ("end_user",),  # never crossed with keys and models: that would be nearly as many rows as logs
    2: (),
    3: ("model",),
    4: ("key",),
}

_LOCK = 0x11A5_0002  # one aggregation at a time: day and month totals are read back from hours
CHUNK = 2000  # (organization, hour) pairs per transaction

_COLUMNS = "bucket, org_id, level, key_id, model, end_user, requests, errors, prompt_tokens, completion_tokens, cost"
DELTA_COLUMNS = _COLUMNS


def deltas_insert(rows: str) -> str:
    """An INSERT of the deltas (see UsageDelta) of ``rows`` — a relation with the request_logs
    columns org_id, key_id, model, end_user, status, prompt_tokens, completion_tokens, cost,
    created_at — to run in the transaction that writes those rows (every writer of request_logs
    must). Every level of the cube (LEVELS), end users (level 1) included."""
    return f"""
INSERT INTO usage_deltas ({_COLUMNS})
SELECT hour, org_id,
       CASE GROUPING(key_id, model, eu) WHEN 1 THEN 0 WHEN 6 THEN 1 WHEN 7 THEN 2 WHEN 5 THEN 3 ELSE 4 END,
       key_id, coalesce(model, ''), coalesce(eu, ''), count(*), count(*) FILTER (WHERE status <> 'success'),
       sum(prompt_tokens), sum(completion_tokens), sum(cost)
FROM (
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, coalesce(end_user, '') AS eu, * FROM {rows}
    WHERE org_id IS NOT NULL
) r
GROUP BY GROUPING SETS ((hour, org_id, key_id, model), (hour, org_id, eu), (hour, org_id), (hour, org_id, model),
                        (hour, org_id, key_id))
"""


# (level, keeps the key, keeps the model) of the deltas summed from the finest (key × model)
# groups: deltas_insert's grouping sets but end users (level 1), which are summed on their own.
_DELTA_LEVELS = ((0, True, True), (2, False, False), (3, False, True), (4, True, False))


def deltas_of(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The usage_deltas rows (``DELTA_COLUMNS``) that ``deltas_insert`` writes for ``rows`` of
    (org_id, key_id, model, end_user, status, prompt_tokens, completion_tokens, cost, hour),
    ``hour`` the UTC hour of created_at as an aware datetime, for a
    writer that COPYs its rows and so has no relation to select them from (a test checks both
    give the same deltas). Two dict updates a row (key × model, end user), then the few groups
    are summed per level."""
    finest: dict[tuple[Any, ...], list[Any]] = {}  # (hour, org, key, model) → sums
    users: dict[tuple[Any, ...], list[Any]] = {}  # (hour, org, end user) → sums
    for org, key, model, end_user, status, prompt, completion, cost, hour in rows:
        if org is None:
            continue
        failed = status != "success"
        for groups, group in ((finest, (hour, org, key, model)), (users, (hour, org, end_user or ""))):
            sums = groups.get(group)
            if sums is None:
                groups[group] = [1, failed, prompt, completion, cost]
            else:
                sums[0] += 1
                sums[1] += failed
                sums[2] += prompt
                sums[3] += completion
                sums[4] += cost
    out = [(hour, org, 1, None, "", end_user, *(int(v) for v in sums[:4]), sums[4])
           for (hour, org, end_user), sums in users.items()]  # fmt: skip
    for level, keeps_key, keeps_model in _DELTA_LEVELS:
        totals: dict[tuple[datetime, str, str | None, str], list[Any]] = {}
        for (hour, org, key, model), sums in finest.items():
            group = (hour, org, key if keeps_key else None, model if keeps_model else "")
            into = totals.get(group)
            if into is None:
                totals[group] = list(sums)
            else:
                for i, value in enumerate(sums):
                    into[i] += value
        out += [(hour, org, level, key, model, "", *(int(v) for v in sums[:4]), sums[4])
                for (hour, org, key, model), sums in totals.items()]  # fmt: skip
    return out


_SUMS = (
    "sum(requests) AS requests, sum(errors) AS errors, sum(prompt_tokens) AS prompt_tokens, "
    "sum(completion_tokens) AS completion_tokens, sum(cost) AS cost"
)

# The deltas of a chunk of (organization, hour)s: only the committed ones are seen and deleted;
# one committed later (rows this recompute does not see) stays for the next run.
_TAKE = """
WITH first AS (SELECT org_id, bucket FROM usage_deltas WHERE level = 2 ORDER BY id LIMIT %s),
pick AS (SELECT DISTINCT org_id, bucket FROM first),
gone AS (
    DELETE FROM usage_deltas d USING pick WHERE d.org_id = pick.org_id AND d.bucket = pick.bucket
    RETURNING d.org_id, d.bucket
)
SELECT DISTINCT org_id, bucket FROM gone
"""

_PAIRS = "unnest(%s::uuid[], %s::timestamptz[]) AS d(org_id, start)"

# LATERAL: one index range scan per (organization, hour), whatever the planner's statistics say
# (a hash join over every log of the organization would cost far more than the hour itself).
_HOURS = f"""
INSERT INTO usage_hourly ({_COLUMNS})
SELECT d.start, d.org_id, g.level, g.key_id, g.model, g.end_user, g.requests, g.errors, g.prompt_tokens,
       g.completion_tokens, g.cost
FROM {_PAIRS}
CROSS JOIN LATERAL (
    SELECT CASE GROUPING(key_id, model, eu) WHEN 1 THEN 0 WHEN 6 THEN 1 WHEN 7 THEN 2 WHEN 5 THEN 3 ELSE 4 END
               AS level,
           key_id, coalesce(model, '') AS model, coalesce(eu, '') AS end_user, count(*) AS requests,
           count(*) FILTER (WHERE status <> 'success') AS errors, sum(prompt_tokens) AS prompt_tokens,
           sum(completion_tokens) AS completion_tokens, sum(cost) AS cost
    FROM (
        SELECT key_id, model, coalesce(end_user, '') AS eu, status, prompt_tokens, completion_tokens, cost
        FROM request_logs r
        WHERE r.org_id = d.org_id AND r.created_at >= d.start AND r.created_at < d.start + interval '1 hour'
    ) rows
    GROUP BY GROUPING SETS ((key_id, model), (eu), (), (model), (key_id))
) g
"""


def _coarser(table: str, finer: str, unit: str) -> str:
    """Recompute ``table``'s buckets (of ``unit``) from ``finer``'s rows inside them."""
    return f"""
INSERT INTO {table} ({_COLUMNS})
SELECT d.start, d.org_id, g.level, g.key_id, g.model, g.end_user, g.requests, g.errors, g.prompt_tokens,
       g.completion_tokens, g.cost
FROM {_PAIRS}
CROSS JOIN LATERAL (
    SELECT level, key_id, model, end_user, {_SUMS}
    FROM {finer} f
    WHERE f.org_id = d.org_id AND f.level = ANY('{{0,1,2,3,4}}') AND f.bucket >= d.start
      AND f.bucket < d.start + interval '1 {unit}'
    GROUP BY level, key_id, model, end_user
) g
"""


_DAYS = _coarser("usage_daily", "usage_hourly", "day")
_MONTHS = _coarser("monthly_usage", "usage_daily", "month")


@dataclass
class AggregateResult:
    hours: int = 0
    days: int = 0
    months: int = 0
    busy: bool = False  # another aggregation holds the lock: it will do this work


def _replace(cursor: object, table: str, insert: str, pairs: list[tuple[UUID, datetime]]) -> None:
    orgs, starts = [p[0] for p in pairs], [p[1] for p in pairs]
    cursor.execute(  # type: ignore[attr-defined]
        f"DELETE FROM {table} t USING {_PAIRS} WHERE t.org_id = d.org_id AND t.bucket = d.start",
        [orgs, starts],
    )
    cursor.execute(insert, [orgs, starts])  # type: ignore[attr-defined]


def _truncated(pairs: list[tuple[UUID, datetime]], unit: str) -> list[tuple[UUID, datetime]]:
    return sorted({(org, floor(start, unit)) for org, start in pairs})


def aggregate_usage(*, chunk: int = CHUNK) -> AggregateResult:
    """Recompute the rollups of every marked hour (and their days and months), chunk by chunk.

    Each chunk reads one snapshot (REPEATABLE READ): the deltas it takes and the rows it
    recomputes the hours from are the same rows. Under READ COMMITTED each statement saw the rows
    committed until then, so rows committed between taking the deltas and recomputing the hours
    were counted in the hour's rollup and again by their deltas, until the next chunk. The lock is
    taken before the snapshot (a session lock), so the snapshot follows the previous holder's commit."""
    result = AggregateResult()
    outermost = not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK])
        if not cursor.fetchone()[0]:
            result.busy = True
            return result
    try:
        while _aggregate_chunk(chunk, result, snapshot=outermost):
            pass
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK])
    return result


def _aggregate_chunk(chunk: int, result: AggregateResult, *, snapshot: bool) -> bool:
    """One chunk of marked hours in one transaction; False once none is left."""
    with transaction.atomic(), connection.cursor() as cursor:
        if snapshot:  # inside a caller's transaction (tests) the isolation level is the caller's
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(_TAKE, [chunk])
        hours = sorted((UUID(str(org)), start) for org, start in cursor.fetchall())
        if not hours:
            return False
        checkpoint("aggregate.taken")
        _replace(cursor, "usage_hourly", _HOURS, hours)
        checkpoint("aggregate.hours")
        days = _truncated(hours, "day")
        _replace(cursor, "usage_daily", _DAYS, days)
        months = _truncated(days, "month")
        _replace(cursor, "monthly_usage", _MONTHS, months)
        checkpoint("aggregate.months")
    result.hours += len(hours)
    result.days += len(days)
    result.months += len(months)
    log.info("rolled up %d hours, %d days, %d months", len(hours), len(days), len(months))
    return True
