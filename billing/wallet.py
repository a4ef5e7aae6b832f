"""The prepaid wallet's hot copy in Redis (``{p}:w:{org}``, read by the admission script).

``credit``: every ledger entry but usage (top-ups, refunds, codes, adjustments), written by
Django after each commit; ``spent``: what the proxy settled (at the organization's multiplier),
raised to the ledger's figure when that is higher (Redis lost, a call settled after its
reservation expired); ``reserved``: reservations in flight; ``mult_ppm``: the multiplier. An
organization not on the prepaid plan has no wallet key, and admission does not check one.
After Redis restarts empty every wallet is rebuilt from PostgreSQL before the snapshot epoch
tells the proxy to serve again (receivers.py), as budgets are.
"""

from __future__ import annotations

import logging
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from django.db.models import Q, Sum

from billing.models import BillingAccount, EntryKind, LedgerEntry, Plan
from inference.proxy.contract import NANO_PER_USD
from llmaas.redis_client import redis_client, redis_keys

log = logging.getLogger(__name__)

# KEYS: W. ARGV: credit (nano), the ledger's spend (nano), multiplier (ppm). 'spent' only rises
# here: the proxy's settled figure may hold calls whose costs the ledger has not posted yet.
_SYNC = """
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local pg = tonumber(ARGV[2])
if pg > spent or redis.call('HEXISTS', KEYS[1], 'spent') == 0 then redis.call('HSET', KEYS[1], 'spent', ARGV[2]) end
redis.call('HSET', KEYS[1], 'credit', ARGV[1], 'mult_ppm', ARGV[3])
if redis.call('HEXISTS', KEYS[1], 'reserved') == 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
return spent
"""


def to_nano(amount: Decimal, rounding: str) -> int:
    return int((amount * NANO_PER_USD).to_integral_value(rounding))


def mult_ppm(multiplier: Decimal) -> int:
    return int((multiplier * 1_000_000).to_integral_value(ROUND_CEILING))


def ledger_figures(org_id: Any) -> tuple[Decimal, Decimal]:
    """(credit, spent) of an organization's ledger: the sum of its non-usage entries, and what its
    usage entries debited (a positive figure)."""
    sums = LedgerEntry.objects.filter(organization_id=org_id).aggregate(
        credit=Sum("amount", filter=~Q(kind=EntryKind.USAGE)), usage=Sum("amount", filter=Q(kind=EntryKind.USAGE))
    )
    return sums["credit"] or Decimal(0), -(sums["usage"] or Decimal(0))


def wallet_sync(org_id: Any) -> None:
    """Bring the organization's wallet in Redis in line with PostgreSQL: written for a prepaid
    organization, removed for any other (call after the commit that changed either)."""
    account = BillingAccount.objects.filter(organization_id=org_id).first()
    key = redis_keys().wallet(str(org_id))
    if account is None or account.plan != Plan.PREPAID:
        redis_client().delete(key)
        return
    credit, spent = ledger_figures(org_id)
    args = (to_nano(credit, ROUND_FLOOR), to_nano(spent, ROUND_CEILING), mult_ppm(account.price_multiplier))
    redis_client().eval(_SYNC, 1, key, *args)


def wallets_rebuild() -> int:
    """Every prepaid organization's wallet from PostgreSQL (Redis lost its state; beat too)."""
    org_ids = list(BillingAccount.objects.filter(plan=Plan.PREPAID).values_list("organization_id", flat=True))
    for org_id in org_ids:
        wallet_sync(org_id)
    return len(org_ids)


def wallet_state(org_id: Any) -> dict[str, int] | None:
    """The wallet's Redis fields (nano-USD), or None without one."""
    raw = redis_client().hgetall(redis_keys().wallet(str(org_id)))
    if not raw:
        return None
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
