"""Budget counters in Redis, kept honest by PostgreSQL (request_logs is the source of truth).

The proxy settles spend in Redis as calls finish; these functions rebuild those counters
after Redis lost them, correct drift, and give back expired reservations when idle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from accounts.models import Organization
from inference.proxy.admission import budget_ttl
from inference.proxy.admission_lua import PURGE
from inference.proxy.contract import NANO_PER_USD, budget_period
from keys.models import ApiKey
from llmaas.redis_client import redis_client, redis_keys
from usage.summary import EPOCH, UsageQuery, usage_totals

log = logging.getLogger(__name__)

# Make the Redis counter at least PostgreSQL's figure (ARGV[1]): 'spent' is what the proxy
# settled (which may hold calls whose records are still on their way to PostgreSQL) plus
# 'corrected', what these checks added on top ('pg': the figure the last check applied, 'pg_at':
# when PostgreSQL computed it, ARGV[4], microseconds of its clock). A call's spend never goes
# away, so a figure lower than the last one proves the last one overcounted (a rollup that
# counted rows twice until its next run): the correction is taken back by that much, never below
# what the proxy settled. That proof holds only for a figure computed after the last one: the
# check computes every scope's figure before writing them one by one, and a rebuild on another
# worker may write a fresher figure meanwhile, so a figure older than the last applied is
# ignored (nothing changes; ARGV[4] -1: a figure without a time, always applied). With ARGV[3]
# (the budget, nano-USD) ≥ 0 the period is blocked at that budget (admission refuses every call
# while the budget is not raised above it); with -1 (the record says the period is not spent) a
# block is lifted. Returns {the old value, 1 if the figure was applied else 0}.
_RAISE_SPENT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local at = tonumber(ARGV[4])
if at >= 0 and at < tonumber(redis.call('HGET', KEYS[1], 'pg_at') or '-1') then return {current, 0} end
local corrected = tonumber(redis.call('HGET', KEYS[1], 'corrected') or '0')
local pg = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'pg') or ARGV[1])
local settled = math.max(0, current - corrected)
if pg < last then corrected = math.max(0, corrected - (last - pg)) end
local target = math.max(settled + corrected, pg)
-- As integer text: redis.call writes a number as %.17g (2e+17 from 10^17 on), which HINCRBY refuses.
local function int(x) return string.format('%d', x) end
redis.call('HSET', KEYS[1], 'spent', int(target), 'corrected', int(target - settled), 'pg', int(pg))
if at >= 0 then redis.call('HSET', KEYS[1], 'pg_at', ARGV[4]) end
if tonumber(ARGV[3]) >= 0 then redis.call('HSET', KEYS[1], 'blocked', ARGV[3])
else redis.call('HDEL', KEYS[1], 'blocked') end
if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {current, 1}
"""


@dataclass(frozen=True)
class ScopeSpend:
    scope: str
    scope_id: str
    period_id: str
    start: datetime | None
    end: datetime | None
    budget: Decimal
    spent_pg: Decimal
    org_id: str = ""
    taken_us: int = -1  # PostgreSQL's clock (µs) before the figure's query; -1: no time, always applied

    @property
    def budget_nano(self) -> int:
        return int(self.budget * NANO_PER_USD)

    @property
    def spent_nano(self) -> int:
        return int(self.spent_pg * NANO_PER_USD)

    @property
    def exhausted(self) -> bool:
        # A zero budget already refuses every call that costs anything; free calls stay allowed.
        return self.budget_nano > 0 and self.spent_nano >= self.budget_nano


def period_spend(org_id: UUID, key_id: UUID | None, start: datetime | None, now: datetime) -> Decimal:
    """What PostgreSQL counts for the scope since ``start``: rollups plus the not-yet-rolled tail."""
    query = UsageQuery(org_id, start or EPOCH, now, "total", key_ids=None if key_id is None else [key_id])
    return usage_totals(query).cost


def scope_spend(
    scope: str, scope_id: UUID, org_id: UUID, budget: Decimal, period: str, tz: str, now: datetime | None = None
) -> ScopeSpend:
    now = now or timezone.now()
    period_id, start, end = budget_period(period, tz, now)
    taken = _clock_us()  # before the query: its snapshot holds at least what was committed then
    spent = period_spend(org_id, scope_id if scope == "key" else None, start, now + timedelta(seconds=1))
    return ScopeSpend(scope, str(scope_id), period_id, start, end, budget, spent, str(org_id), taken)


def _clock_us() -> int:
    """PostgreSQL's clock in microseconds: one clock for the figures of every worker."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
        return int(cursor.fetchone()[0])


def budgeted_scopes(only: list[tuple[str, str]] | None = None) -> list[ScopeSpend]:
    """The figures of every scope that has a budget, or only of ``only`` (("key" | "org", id)
    pairs: a rebuild after one scope's limits changed touches those counters only)."""
    now = timezone.now()
    orgs = Organization.objects.filter(budget_usd__isnull=False)
    keys = ApiKey.objects.filter(budget_usd__isnull=False, revoked_at__isnull=True)
    if only is not None:
        orgs = orgs.filter(pk__in=[UUID(scope_id) for scope, scope_id in only if scope == "org"])
        keys = keys.filter(pk__in=[UUID(scope_id) for scope, scope_id in only if scope == "key"])
    scopes = [
        scope_spend("org", org.id, org.id, org.budget_usd, org.budget_period, org.timezone, now)
        for org in orgs
        if org.budget_usd is not None
    ]
    scopes += [
        scope_spend(
            "key", key.id, key.organization_id, key.budget_usd, key.budget_period, key.organization.timezone, now
        )
        for key in keys.select_related("organization")
        if key.budget_usd is not None
    ]
    return scopes


def scopes_spend(scopes: list[tuple[str, str]]) -> list[ScopeSpend]:
    """The named scopes that have a budget (see ``budgeted_scopes``)."""
    return budgeted_scopes(only=scopes)


def redis_spent(s: ScopeSpend) -> int:
    raw = redis_client().hget(redis_keys().budget(s.org_id, s.scope, s.scope_id, s.period_id), "spent")
    return int(raw or 0)


def raise_spent(s: ScopeSpend) -> int:
    """Make Redis count at least what PostgreSQL says, and block an exhausted period; returns the
    correction (nano-USD)."""
    pg = s.spent_nano
    ttl = budget_ttl(s.end, timezone.now())
    block = s.budget_nano if s.exhausted else -1
    key = redis_keys().budget(s.org_id, s.scope, s.scope_id, s.period_id)
    reply: Any = redis_client().eval(_RAISE_SPENT, 1, key, pg, ttl, block, s.taken_us)
    before, applied = int(reply[0]), int(reply[1])
    return max(0, pg - before) if applied else 0


def spend_rebuild(scopes: list[ScopeSpend] | None = None) -> int:
    """After Redis lost them (or a limit changed): counters of the current periods from PostgreSQL."""
    return sum(raise_spent(s) for s in (budgeted_scopes() if scopes is None else scopes))


def spend_reconcile() -> dict[str, int]:
    """Periodic: compare Redis spend with request_logs, correct what Redis undercounts, report drift."""
    scopes = budgeted_scopes()
    drift = sum(abs(s.spent_nano - redis_spent(s)) for s in scopes)
    corrected = spend_rebuild(scopes)
    client, keys = redis_client(), redis_keys()
    client.hset(f"{keys.prefix}:metrics", mapping={"spend_drift_nano": drift, "spend_corrected_nano": corrected})
    if corrected:
        log.warning("budget reconcile: raised Redis spend by $%.6f across %d scopes", corrected / 1e9, len(scopes))
    return {"scopes": len(scopes), "drift_nano": drift, "corrected_nano": corrected}


def reservation_sets() -> list[str]:
    """Every organization's reservation set (Z) in Redis: SCAN, over every node of a cluster."""
    client = redis_client()
    return [_text(name) for name in client.scan_iter(match=redis_keys().reservations_pattern, count=1000, _type="zset")]


def reservations_purge() -> int:
    """Give back the budget and slots of reservations whose time is up (beat; the proxy does it too,
    for the organization of each call it admits). Each organization's in its own script: its keys
    share one hash slot."""
    client, now_ms, purged = redis_client(), int(time.time() * 1000), 0
    for zset in reservation_sets():
        purged += int(client.eval(PURGE, 2, zset, f"{zset}:data", now_ms))
    return purged


def open_reservations() -> int:
    client = redis_client()
    return sum(int(client.zcard(zset)) for zset in reservation_sets())


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
