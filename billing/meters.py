"""Metered usage to Stripe's Billing Meters API (``export_stripe_usage``, beat).

Per pay-as-you-go organization and UTC day, the day's cost from the rollups (usage_daily, plus
the deltas still waiting to be rolled up), at the organization's multiplier, in micro-USD; a
meter event carries the difference from what was sent for that day before. Its identifier is
``llmaas-{org}-{day}-{micro-USD sent before}``: a run that crashed after Stripe accepted the event
but before recording it computes the same identifier again, which Stripe counts once; a second
run with nothing new sends nothing. The event's timestamp is the day's noon (Stripe accepts
events up to 35 days old), so a month's meter equals the month's rollups.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from billing.models import BillingAccount, MeterEventSent, Plan
from billing.stripe_client import stripe_client, stripe_configured

log = logging.getLogger(__name__)

MICRO = Decimal(1_000_000)
WINDOW_DAYS = 34  # Stripe refuses meter events older than 35 days

_DAILY_COST = """
SELECT org_id, date_trunc('day', bucket, 'UTC')::date AS day, sum(cost) FROM (
    SELECT org_id, bucket, cost FROM usage_daily WHERE level = 2 AND bucket >= %(since)s
    UNION ALL
    SELECT org_id, bucket, cost FROM usage_deltas WHERE level = 2 AND bucket >= %(since)s
) c WHERE org_id = ANY(%(orgs)s) GROUP BY 1, 2
"""


def daily_value(cost: Decimal, multiplier: Decimal) -> int:
    """A day's cost (list price) as the micro-USD the organization pays."""
    return int((cost * multiplier * MICRO).to_integral_value(ROUND_HALF_UP))


def usage_by_day(accounts: list[BillingAccount], since: date) -> dict[tuple[str, date], int]:
    """(organization id, day) → micro-USD, for the accounts given."""
    multipliers = {str(a.organization_id): a.price_multiplier for a in accounts}
    start = datetime.combine(since, time(), tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(_DAILY_COST, {"since": start, "orgs": list(multipliers)})
        rows = cursor.fetchall()
    return {(str(org), day): daily_value(cost, multipliers[str(org)]) for org, day, cost in rows}


def export_stripe_usage(*, today: date | None = None) -> int:
    """Send each pay-as-you-go organization's unsent usage of the last days as meter events.
    Returns how many events were sent."""
    if not stripe_configured():
        return 0
    today = today or timezone.now().date()
    since = today - timedelta(days=WINDOW_DAYS)
    accounts = list(BillingAccount.objects.filter(plan=Plan.PAYG).exclude(stripe_customer_id=""))
    if not accounts:
        return 0
    customers = {str(a.organization_id): a.stripe_customer_id for a in accounts}
    sent_rows = (
        MeterEventSent.objects.filter(organization_id__in=list(customers), day__gte=since)
        .values("organization_id", "day")
        .annotate(total=Sum("value"))
    )
    sent = {(str(r["organization_id"]), r["day"]): int(r["total"]) for r in sent_rows}
    client = stripe_client()
    count = 0
    for (org_id, day), value in sorted(usage_by_day(accounts, since).items()):
        before = sent.get((org_id, day), 0)
        if value <= before:
            continue
        identifier = f"llmaas-{org_id}-{day.isoformat()}-{before}"
        _send(client, identifier, customers[org_id], value - before, day)
        MeterEventSent.objects.get_or_create(
            identifier=identifier, defaults={"organization_id": org_id, "day": day, "value": value - before}
        )
        count += 1
    return count


def _send(client: stripe.StripeClient, identifier: str, customer: str, value: int, day: date) -> Any:
    noon = datetime.combine(day, time(12), tzinfo=UTC)
    try:
        return client.v1.billing.meter_events.create(
            params={
                "event_name": settings.STRIPE_METER_EVENT_NAME,
                "identifier": identifier,
                "timestamp": int(min(noon, timezone.now()).timestamp()),
                "payload": {"stripe_customer_id": customer, "value": str(value)},
            }
        )
    except stripe.InvalidRequestError as exc:
        # Stripe already holds an event with this identifier: a previous run sent it.
        if getattr(exc, "code", None) == "resource_already_exists":
            log.info("meter event %s was already sent", identifier)
            return None
        raise
