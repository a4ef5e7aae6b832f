"""Usage summaries from the rollups plus the not-yet-rolled tail, exact at any range.

A range is split into pieces, coarsest first: a month (or day, or hour) bucket that lies wholly
inside the range and has no dirty hour is read from its rollup table; anything else — a bucket
cut by the range's edge, or one with an hour whose new rows are not rolled up yet — is split into
finer buckets, down to hours, and what is still left (partial or dirty hours) is read from
request_logs. One SQL statement then sums the pieces into the requested buckets and groups.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from usage.partitions import add_months

GRANULARITIES = ("hour", "day", "month", "total")
GROUPS = ("model", "key", "end_user")
TABLES = {"month": "monthly_usage", "day": "usage_daily", "hour": "usage_hourly"}
# The rollup levels whose buckets nest inside each output granularity, coarsest first.
_LEVELS = {
    "total": ("month", "day", "hour"),
    "month": ("month", "day", "hour"),
    "day": ("day", "hour"),
    "hour": ("hour",),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GROUP_COLUMN = {None: "NULL::text", "model": "model", "key": "key_id::text", "end_user": "end_user"}


@dataclass(frozen=True)
class UsageQuery:
    org_id: UUID
    start: datetime
    end: datetime
    granularity: str = "day"
    group_by: str | None = None
    key_ids: list[UUID] | None = None  # None: every key
    models: list[str] | None = None
    end_users: list[str] | None = None


@dataclass(frozen=True)
class UsageRow:
    bucket: datetime | None
    group: str | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Plan:
    """Time ranges [lo, hi) per source: a rollup level, or "raw" (request_logs)."""

    ranges: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, source: str, lo: datetime, hi: datetime) -> None:
        ranges = self.ranges[source]
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))


def floor(t: datetime, unit: str) -> datetime:
    t = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if unit == "hour":
        return t
    t = t.replace(hour=0)
    return t if unit == "day" else t.replace(day=1)


def step(t: datetime, unit: str) -> datetime:
    if unit == "hour":
        return t + timedelta(hours=1)
    if unit == "day":
        return t + timedelta(days=1)
    return add_months(t, 1)


def plan(start: datetime, end: datetime, granularity: str, dirty: list[datetime]) -> Plan:
    """Split [start, end) into rollup buckets and raw ranges (``dirty``: sorted hour starts)."""
    result = Plan()

    def has_dirty(lo: datetime, hi: datetime) -> bool:
        i = bisect.bisect_left(dirty, lo)
        return i < len(dirty) and dirty[i] < hi

    def visit(lo: datetime, hi: datetime, levels: tuple[str, ...]) -> None:
        unit, finer = levels[0], levels[1:]
        bucket = floor(lo, unit)
        while bucket < hi:
            after = step(bucket, unit)
            piece_lo, piece_hi = max(bucket, lo), min(after, hi)
            if piece_lo == bucket and piece_hi == after and not has_dirty(bucket, after):
                result.add(unit, bucket, after)
            elif finer:
                visit(piece_lo, piece_hi, finer)
            else:
                result.add("raw", piece_lo, piece_hi)
            bucket = after

    if start < end:
        visit(start, end, _LEVELS[granularity])
    return result


def _filters(q: UsageQuery, params: dict[str, Any]) -> str:
    clauses = []
    if q.key_ids is not None:
        clauses.append("key_id = ANY(%(keys)s)")
        params["keys"] = list(q.key_ids)
    if q.models is not None:
        clauses.append("model = ANY(%(models)s)")
        params["models"] = list(q.models)
    if q.end_users is not None:
        clauses.append("coalesce(end_user, '') = ANY(%(end_users)s)")
        params["end_users"] = list(q.end_users)
    return "".join(f" AND {c}" for c in clauses)


def _ranges(column: str, ranges: list[tuple[datetime, datetime]], params: dict[str, Any], tag: str) -> str:
    parts = []
    for i, (lo, hi) in enumerate(ranges):
        params[f"{tag}_lo{i}"], params[f"{tag}_hi{i}"] = lo, hi
        parts.append(f"({column} >= %({tag}_lo{i})s AND {column} < %({tag}_hi{i})s)")
    return "(" + " OR ".join(parts) + ")"


def summary_sql(q: UsageQuery, the_plan: Plan) -> tuple[str, dict[str, Any]]:
    """The one statement that sums the plan's pieces into (bucket, group) rows, ordered."""
    params: dict[str, Any] = {"org": q.org_id, "level": rollup_level(q)}
    filters = _filters(q, params)
    selects = []
    for unit, table in TABLES.items():
        ranges = the_plan.ranges.get(unit)
        if ranges:
            selects.append(
                f"SELECT bucket AS t, key_id, model, end_user, requests, errors, prompt_tokens, completion_tokens, "
                f"cost FROM {table} WHERE org_id = %(org)s AND level = %(level)s AND "
                f"{_ranges('bucket', ranges, params, unit)}{filters}"
            )
    raw = the_plan.ranges.get("raw")
    if raw:
        selects.append(
            "SELECT created_at AS t, key_id, model, coalesce(end_user, '') AS end_user, 1 AS requests, "
            "(status <> 'success')::int AS errors, prompt_tokens, completion_tokens, cost "
            f"FROM request_logs WHERE org_id = %(org)s AND {_ranges('created_at', raw, params, 'raw')}{filters}"
        )
    if not selects:
        selects.append(
            "SELECT NULL::timestamptz AS t, NULL::uuid AS key_id, ''::text AS model, ''::text AS end_user, "
            "0 AS requests, 0 AS errors, 0 AS prompt_tokens, 0 AS completion_tokens, 0::numeric AS cost WHERE false"
        )
    bucket = "NULL::timestamptz" if q.granularity == "total" else f"date_trunc('{q.granularity}', t, 'UTC')"
    union = "\nUNION ALL\n".join(selects)
    sql = (
        f"SELECT {bucket} AS bucket, {_GROUP_COLUMN[q.group_by]} AS grp, sum(requests)::bigint AS requests, "
        f"sum(errors)::bigint AS errors, sum(prompt_tokens)::bigint AS prompt_tokens, "
        f"sum(completion_tokens)::bigint AS completion_tokens, sum(cost) AS cost "
        f"FROM (\n{union}\n) pieces GROUP BY 1, 2"
    )
    return sql, params


def dirty_hours(org_id: UUID, start: datetime, end: datetime) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT hour FROM usage_dirty_hours WHERE org_id = %s AND hour >= %s AND hour < %s ORDER BY hour",
            [org_id, floor(start, "hour"), end],
        )
        return [row[0] for row in cursor.fetchall()]


def rollup_level(q: UsageQuery) -> int | None:
    """The smallest rollup level (usage.rollups.LEVELS) that holds the query's dimensions, or None
    if none does: end users are rolled up on their own, not crossed with keys and models."""
    end_user = q.group_by == "end_user" or q.end_users is not None
    key = q.group_by == "key" or q.key_ids is not None
    model = q.group_by == "model" or q.models is not None
    if end_user:
        return None if key or model else 1
    return {(True, True): 0, (False, False): 2, (False, True): 3, (True, False): 4}[(key, model)]


def summary_statement(q: UsageQuery) -> tuple[str, dict[str, Any]]:
    """The summary as one SQL statement (its rows: bucket, group, requests, errors, tokens, cost)."""
    if rollup_level(q) is None:
        raw = Plan()
        raw.add("raw", q.start, q.end)
        return summary_sql(q, raw)
    return summary_sql(q, plan(q.start, q.end, q.granularity, dirty_hours(q.org_id, q.start, q.end)))


def _row(raw: tuple[Any, ...]) -> UsageRow:
    bucket, group, requests, errors, prompt, completion, cost = raw
    return UsageRow(bucket, group, int(requests or 0), int(errors or 0), int(prompt or 0), int(completion or 0),
                    Decimal(cost or 0))  # fmt: skip


def usage_rows(
    q: UsageQuery, *, after: tuple[datetime | None, str | None] | None = None, limit: int | None = None
) -> list[UsageRow]:
    """The summary's rows ordered by (bucket, group); ``after`` and ``limit`` page through them."""
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # one snapshot for the dirty marks and the rows: a concurrent rollup is never counted twice
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        sql, params = summary_statement(q)
        outer = f"SELECT * FROM ({sql}) s"
        if after is not None:
            params["after_b"], params["after_g"] = after[0] or EPOCH, after[1] or ""
            outer += " WHERE (coalesce(bucket, %(epoch)s), coalesce(grp, '')) > (%(after_b)s, %(after_g)s)"
            params["epoch"] = EPOCH
        outer += " ORDER BY coalesce(bucket, %(epoch)s), coalesce(grp, '')"
        params["epoch"] = EPOCH
        if limit is not None:
            outer += f" LIMIT {int(limit)}"
        cursor.execute(outer, params)
        return [_row(r) for r in cursor.fetchall()]


def sum_rows(rows: list[UsageRow]) -> UsageRow:
    return UsageRow(
        None,
        None,
        sum(r.requests for r in rows),
        sum(r.errors for r in rows),
        sum(r.prompt_tokens for r in rows),
        sum(r.completion_tokens for r in rows),
        sum((r.cost for r in rows), Decimal(0)),
    )


def usage_totals(q: UsageQuery) -> UsageRow:
    """Totals over the whole range (no buckets, no groups)."""
    total = UsageQuery(q.org_id, q.start, q.end, "total", None, q.key_ids, q.models, q.end_users)
    rows = usage_rows(total)
    return rows[0] if rows else UsageRow(None, None, 0, 0, 0, 0, Decimal(0))
