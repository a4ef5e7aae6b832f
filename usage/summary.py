"""Usage summaries from the rollups plus the not-yet-rolled tail, exact at any range.

A range is split into signed pieces, coarsest first (see ``plan``): whole month, day and hour
buckets from the rollup tables, the deltas of hours whose newest rows are not rolled up yet, and
what is left at the range's edges (parts of hours) from request_logs. One SQL statement then
sums the pieces into the requested buckets and groups.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connection, transaction

from usage.partitions import add_months, month_start

GRANULARITIES = ("hour", "day", "month", "total")
GROUPS = ("model", "key", "end_user")
TABLES = {"month": "monthly_usage", "day": "usage_daily", "hour": "usage_hourly", "delta": "usage_deltas"}
DELTA_LEVELS = (0, 1, 2, 3, 4)  # the cube levels the ingest writes deltas of: all of them
# The rollup levels whose buckets nest inside each output granularity, coarsest first.
_LEVELS = {
    "total": ("month", "day", "hour"),
    "month": ("month", "day", "hour"),
    "day": ("day", "hour"),
    "hour": ("hour",),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUMMED = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost")
_FAILED = "(status <> 'success')::int"  # a raw row's errors
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


class UsageRow(NamedTuple):
    bucket: datetime | None
    group: str | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal


Piece = tuple[str, int, datetime, datetime]  # (source: a rollup unit or "raw", sign, lo, hi)
RAW_COST_PER_HOUR = 20  # reading an hour of request_logs, in rollup buckets' worth of work


def floor(t: datetime, unit: str) -> datetime:
    """The start of the UTC hour, day or month containing ``t``."""
    if unit == "month":
        return month_start(t)
    t = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return t if unit == "hour" else t.replace(hour=0)


def step(t: datetime, unit: str) -> datetime:
    if unit == "hour":
        return t + timedelta(hours=1)
    if unit == "day":
        return t + timedelta(days=1)
    return add_months(t, 1)


def cost(pieces: list[Piece]) -> float:
    return sum(
        RAW_COST_PER_HOUR * (hi - lo).total_seconds() / 3600 if source == "raw" else 1 for source, _, lo, hi in pieces
    )


@dataclass
class Plan:
    """Weighted time ranges per source: a rollup unit ("month", "day", "hour"), "delta" or "raw"
    (request_logs). The summary is the sum of each range's totals times its weight (±1, rarely ±2)."""

    ranges: dict[tuple[str, int], list[tuple[datetime, datetime]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, source: str, sign: int, lo: datetime, hi: datetime) -> None:
        ranges = self.ranges[(source, sign)]
        # Pieces of one source and sign never overlap (a row would be counted once for two).
        assert not ranges or ranges[-1][1] <= lo, "overlapping summary pieces"
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))


def plan(start: datetime, end: datetime, granularity: str, dirty: list[datetime], *, deltas: bool = True) -> Plan:
    """Split [start, end) into signed pieces (``dirty``: the sorted starts of the hours whose
    rollups are not up to date; ``deltas``: whether the query's level has deltas).

    Three facts make it exact and small. An hour's rollup plus its deltas is the hour's total.
    A coarser rollup is always the sum of the finer ones it was computed from, so a whole bucket
    with dirty hours is its rollup plus those hours' deltas (or, for end users, which have no
    deltas: minus those hours' stale rollups, plus their rows from request_logs). And a bucket
    cut by the range's edge is either the sum of its inside, or the whole bucket minus its
    outside, whichever reads less (the outside of a month that starts a few hours late is a few
    hours).
    """

    def dirty_in(lo: datetime, hi: datetime) -> list[datetime]:
        return dirty[bisect.bisect_left(dirty, lo) : bisect.bisect_left(dirty, hi)]

    def whole(bucket: datetime, after: datetime, unit: str) -> list[Piece]:
        stale = dirty_in(bucket, after)
        if deltas:
            return [(unit, 1, bucket, after)] + [("delta", 1, h, h + timedelta(hours=1)) for h in stale]
        if unit == "hour":
            return [("raw", 1, bucket, after)] if stale else [("hour", 1, bucket, after)]
        pieces: list[Piece] = [(unit, 1, bucket, after)]
        for hour in stale:
            pieces += [("hour", -1, hour, hour + timedelta(hours=1)), ("raw", 1, hour, hour + timedelta(hours=1))]
        return pieces

    def cover(lo: datetime, hi: datetime, levels: tuple[str, ...]) -> list[Piece]:
        if not levels:
            return [("raw", 1, lo, hi)]
        unit, finer = levels[0], levels[1:]
        pieces: list[Piece] = []
        bucket = floor(lo, unit)
        while bucket < hi:
            after = step(bucket, unit)
            inside_lo, inside_hi = max(bucket, lo), min(after, hi)
            if (inside_lo, inside_hi) == (bucket, after):
                pieces += whole(bucket, after, unit)
            else:
                inside = cover(inside_lo, inside_hi, finer)
                outside = whole(bucket, after, unit)
                for out_lo, out_hi in ((bucket, inside_lo), (inside_hi, after)):
                    if out_lo < out_hi:
                        outside += [(src, -sign, a, b) for src, sign, a, b in cover(out_lo, out_hi, finer)]
                pieces += inside if cost(inside) <= cost(outside) else outside
            bucket = after
        return pieces

    # Nested "whole minus outside" choices can name one piece more than once, with either sign:
    # add them up, so that a piece is read once, with its net weight (and not at all at 0).
    weights: dict[tuple[str, datetime, datetime], int] = defaultdict(int)
    if start < end:
        for source, sign, lo, hi in cover(start, end, _LEVELS[granularity]):
            weights[(source, lo, hi)] += sign
    result = Plan()
    for (source, lo, hi), weight in sorted(weights.items(), key=lambda item: (item[0][0], item[1], item[0][1])):
        if weight:
            result.add(source, weight, lo, hi)
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


def _weighted(column: str, weight: int) -> str:
    """``column`` times the piece's weight, with no arithmetic for the usual ±1: the statement
    reads ten thousand rows and more per end user, and a numeric multiplication by 1 for each of
    them took about a seventh of its time (bench usage)."""
    if weight == 1:
        return column
    return f"-{column}" if weight == -1 else f"{weight} * {column}"


def summary_sql(q: UsageQuery, the_plan: Plan) -> tuple[str, dict[str, Any]]:
    """The one statement that sums the plan's signed pieces into (bucket, group) rows."""
    params: dict[str, Any] = {"org": q.org_id, "level": rollup_level(q)}
    filters = _filters(q, params)
    selects = []
    for (source, sign), ranges in sorted(the_plan.ranges.items()):
        tag = f"{source}_{'p' if sign > 0 else 'm'}{abs(sign)}"
        if source == "raw":
            selects.append(
                f"SELECT created_at AS t, key_id, model, coalesce(end_user, '') AS end_user, {sign} AS requests, "
                f"{_weighted(_FAILED, sign)} AS errors, "
                f"{_weighted('prompt_tokens', sign)} AS prompt_tokens, "
                f"{_weighted('completion_tokens', sign)} AS completion_tokens, {_weighted('cost', sign)} AS cost "
                f"FROM request_logs WHERE org_id = %(org)s AND {_ranges('created_at', ranges, params, tag)}{filters}"
            )
        else:
            signed = ", ".join(f"{_weighted(c, sign)} AS {c}" for c in _SUMMED)
            selects.append(
                f"SELECT bucket AS t, key_id, model, end_user, {signed} FROM {TABLES[source]} "
                f"WHERE org_id = %(org)s AND level = %(level)s AND {_ranges('bucket', ranges, params, tag)}{filters}"
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
        f"FROM (\n{union}\n) pieces GROUP BY 1, 2 "
        # A group that only appears where a stale rollup is taken back out sums to nothing: not a row.
        f"HAVING sum(requests) <> 0"
    )
    return sql, params


def dirty_hours(org_id: UUID, start: datetime, end: datetime) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT bucket FROM usage_deltas WHERE org_id = %s AND level = 2 AND bucket >= %s AND bucket < %s "
            "ORDER BY bucket",
            [org_id, floor(start, "hour"), end],
        )
        return [row[0] for row in cursor.fetchall()]


# No organization keeps request logs for less than a day (usage.retention): newer rows are never
# deleted while their rollups stay, so request_logs alone tells whether such a range has calls.
KEPT_AT_LEAST = timedelta(days=1)


def quiet_end(q: UsageQuery, now: datetime) -> datetime:
    """The query's end moved to the coarsest bucket boundary of its granularity's levels that no
    call lies before (the same rows, so the same summary): a range that ends now ends, in effect,
    with its month (or day, or hour), which is one whole bucket (and the deltas of its dirty hours)
    instead of days and hours up to now. The gap is checked with one index probe, in the caller's
    snapshot, and only where it is newer than any retention cutoff."""
    if q.end < now - KEPT_AT_LEAST:
        return q.end
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(created_at) FROM request_logs WHERE org_id = %s AND created_at >= %s", [q.org_id, q.end]
        )
        following = cursor.fetchone()[0]
    for unit in _LEVELS[q.granularity]:  # coarsest first
        bucket = floor(q.end, unit)
        after = q.end if bucket == q.end else step(bucket, unit)
        if following is None or after <= following:
            return after
    return q.end


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
    level = rollup_level(q)
    if level is None:
        raw = Plan()
        raw.add("raw", 1, q.start, q.end)
        return summary_sql(q, raw)
    end = quiet_end(q, datetime.now(UTC))
    dirty = dirty_hours(q.org_id, q.start, end)
    return summary_sql(q, plan(q.start, end, q.granularity, dirty, deltas=level in DELTA_LEVELS))


# Groups in byte order (code point order, as C.UTF-8 databases sort): a few thousand end users
# sort in a fraction of the time the locale's comparison takes, and in the same order in any database.
_GROUP_ORDER = "coalesce(grp, '') COLLATE \"C\""


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
        params["epoch"] = EPOCH
        if after is not None:
            params["after_b"], params["after_g"] = after[0] or EPOCH, after[1] or ""
            outer += f" WHERE (coalesce(bucket, %(epoch)s), {_GROUP_ORDER}) > (%(after_b)s, %(after_g)s)"
        outer += f" ORDER BY coalesce(bucket, %(epoch)s), {_GROUP_ORDER}"
        if limit is not None:
            outer += f" LIMIT {int(limit)}"
        cursor.execute(outer, params)
        return [UsageRow._make(r) for r in cursor.fetchall()]  # sums of non-empty groups: never NULL


def sum_rows(rows: list[UsageRow]) -> UsageRow:
    requests = errors = prompt = completion = 0
    cost = Decimal(0)
    for row in rows:
        requests += row.requests
        errors += row.errors
        prompt += row.prompt_tokens
        completion += row.completion_tokens
        cost += row.cost
    return UsageRow(None, None, requests, errors, prompt, completion, cost)


def usage_totals(q: UsageQuery) -> UsageRow:
    """Totals over the whole range (no buckets, no groups)."""
    total = UsageQuery(q.org_id, q.start, q.end, "total", None, q.key_ids, q.models, q.end_users)
    rows = usage_rows(total)
    return rows[0] if rows else UsageRow(None, None, 0, 0, 0, 0, Decimal(0))


class GpuCostTotals(NamedTuple):
    gpu_seconds: Decimal
    internal_cost: Decimal
    pending: int  # calls that ended after the watermark: their window is not allocated yet (usage/gpu_cost.py)


def gpu_cost_totals(q: UsageQuery) -> GpuCostTotals:
    """GPU-seconds and internal cost over the range, from request_logs (beat fills them once a
    call's window closes, after the rollups ran: so they are summed from the calls themselves)."""
    params: dict[str, Any] = {"org": q.org_id, "start": q.start, "end": q.end}
    sql = (
        "SELECT coalesce(sum(gpu_seconds), 0), coalesce(sum(internal_cost), 0), "
        "count(*) FILTER (WHERE gpu_seconds IS NULL AND deployment_id IS NOT NULL AND created_at "
        "+ latency_ms * interval '1 millisecond' >= coalesce((SELECT until FROM usage_gpucostwatermark "
        "WHERE id = 1), '-infinity')) FROM request_logs "
        f"WHERE org_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s{_filters(q, params)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        gpu_seconds, cost, pending = cursor.fetchone()
    return GpuCostTotals(Decimal(gpu_seconds), Decimal(cost), int(pending))
