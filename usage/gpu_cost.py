"""GPU cost: each call is charged its share of its backend's busy time, so a self-hosted model is
never silently $0 beside its list price.

The rule: at each instant a backend is busy, that instant is split equally among the calls in
flight on it (a sweep line over the calls' start and end times, from ``request_logs``: the call's
``created_at`` and ``latency_ms``). The shares of a backend's calls then sum to its busy time (the
union of their intervals). A call's **GPU-seconds** are its share times the backend's GPUs
(``Backend.gpu_count``); its **internal cost** is its share at the backend's ``hourly_cost_usd``,
i.e. GPU-seconds × hourly cost / 3600 / GPUs, rounded to 10 decimals (exact for a rate like
$3.60/h on one GPU).

Beat allocates closed windows behind a watermark (GpuCostWatermark): each run takes the calls
that ended in [watermark, now - GPU_COST_DELAY_SECONDS), splits their backends' time with every
call overlapping them (calls are never longer than LONGEST_CALL), writes the two nullable columns
with one UPDATE per step, and moves the watermark, all in one transaction. The ingest path is
untouched: a call is NULL until its window closes. A call that is still running when a window
closes (longer than the delay) is missing from that window's split: its neighbours are charged a
little more, and it is charged its own share when its window closes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inference.models import Backend, ModelDeployment
from usage.models import GpuCostWatermark

log = logging.getLogger(__name__)

LONGEST_CALL = timedelta(hours=1)  # no call through the proxy runs longer (its timeouts)
STEP = timedelta(hours=1)  # the longest window one transaction allocates
FIRST_LOOKBACK = timedelta(days=1)  # where a fresh installation starts
SECONDS = Decimal("0.000001")
USD = Decimal("0.0000000001")
PER_HOUR = Decimal(3600)


def split_busy_time(intervals: list[tuple[float, float]]) -> list[float]:
    """Each interval's share of the union of all: every instant is split equally among the
    intervals that contain it. The shares sum to the union's length.

    ``S(t)``, the integral of 1 / (intervals in flight) up to ``t``, is accumulated along the
    sorted ends; an interval's share is ``S(end) - S(start)``."""
    events = sorted(
        [(start, 1, i) for i, (start, _) in enumerate(intervals)]
        + [(end, -1, i) for i, (_, end) in enumerate(intervals)]
    )
    at_start = [0.0] * len(intervals)
    shares = [0.0] * len(intervals)
    accumulated, in_flight, previous = 0.0, 0, None
    for t, kind, i in events:
        if in_flight > 0 and previous is not None:
            accumulated += (t - previous) / in_flight
        previous = t
        if kind > 0:
            at_start[i] = accumulated
            in_flight += 1
        else:
            shares[i] = accumulated - at_start[i]
            in_flight -= 1
    return shares


def union_length(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of the intervals (a backend's busy time)."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def internal_cost(gpu_seconds: Decimal, backend: Backend) -> Decimal:
    """GPU-seconds at the backend's hourly cost (which covers all its GPUs)."""
    return (gpu_seconds * backend.hourly_cost_usd / PER_HOUR / backend.gpu_count).quantize(USD, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Allocation:
    start: datetime
    end: datetime
    calls: int  # calls given their GPU-seconds


@dataclass(frozen=True)
class _Call:
    id: int
    created_at: datetime
    deployment: str
    start: float
    end: float


_CALLS = """
SELECT id, created_at, deployment_id, extract(epoch FROM created_at)::float8, latency_ms
FROM request_logs
WHERE created_at >= %s AND created_at < %s AND deployment_id IS NOT NULL
"""
_WRITE = """
UPDATE request_logs AS r SET gpu_seconds = v.gpu_seconds, internal_cost = v.internal_cost
FROM unnest(%s::bigint[], %s::timestamptz[], %s::numeric[], %s::numeric[])
    AS v(id, created_at, gpu_seconds, internal_cost)
WHERE r.id = v.id AND r.created_at = v.created_at AND r.gpu_seconds IS NULL
"""


def _calls(lo: datetime, hi: datetime) -> list[_Call]:
    with connection.cursor() as cursor:
        cursor.execute(_CALLS, [lo, hi])
        return [
            _Call(row_id, created, str(dep), start, start + max(0.0, float(latency or 0)) / 1000)
            for row_id, created, dep, start, latency in cursor.fetchall()
        ]


def _allocate_window(lo: datetime, hi: datetime) -> int:
    """Give every call that ended in [lo, hi) its GPU-seconds and internal cost; how many."""
    calls = _calls(lo - LONGEST_CALL, hi)
    names = {c.deployment for c in calls}
    backends = {d.name: d.backend for d in ModelDeployment.objects.select_related("backend").filter(name__in=names)}
    by_backend: dict[int, list[_Call]] = defaultdict(list)
    for call in calls:
        if call.deployment in backends:  # a deployment deleted since: no backend to charge
            by_backend[backends[call.deployment].pk].append(call)
    lo_s, hi_s = lo.timestamp(), hi.timestamp()
    ids, times, gpu, cost = [], [], [], []
    for group in by_backend.values():
        backend = backends[group[0].deployment]
        for call, share in zip(group, split_busy_time([(c.start, c.end) for c in group]), strict=True):
            if lo_s <= call.end < hi_s:
                seconds = (Decimal(repr(share)) * backend.gpu_count).quantize(SECONDS, ROUND_HALF_EVEN)
                ids.append(call.id)
                times.append(call.created_at)
                gpu.append(seconds)
                cost.append(internal_cost(seconds, backend))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_WRITE, [ids, times, gpu, cost])
    return len(ids)


def gpu_cost_allocate(*, until: datetime | None = None) -> list[Allocation]:
    """Allocate every closed window up to ``until`` (default: now less the delay), a STEP at a
    time, each in its own transaction behind the watermark (concurrent runs wait for it)."""
    until = until or timezone.now() - timedelta(seconds=settings.GPU_COST_DELAY_SECONDS)
    done: list[Allocation] = []
    while True:
        with transaction.atomic():
            mark = GpuCostWatermark.objects.select_for_update().filter(pk=1).first()
            if mark is None:  # the first run: a racing first run fails on the key and retries at the next beat
                GpuCostWatermark.objects.create(pk=1, until=until - FIRST_LOOKBACK)
                continue
            if mark.until >= until:
                return done
            lo, hi = mark.until, min(until, mark.until + STEP)
            calls = _allocate_window(lo, hi)
            GpuCostWatermark.objects.filter(pk=mark.pk).update(until=hi, updated_at=timezone.now())
        if calls:
            log.info("GPU cost allocated to %d calls that ended in [%s, %s)", calls, lo, hi)
        done.append(Allocation(lo, hi, calls))
