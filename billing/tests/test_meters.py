"""export_stripe_usage: Billing Meters events from the rollups, through the local Stripe server,
read back with the stripe library's own MeterEvent; deterministic identifiers, nothing twice."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
import stripe

from billing.meters import MICRO, export_stripe_usage
from billing.models import BillingAccount, MeterEventSent, Plan
from billing.services import stripe_customer_ensure
from usage.models import MonthlyUsage
from usage.rollups import aggregate_usage
from usage.tests.factories import ingest, record

TODAY = date.today()
MONTH_START = TODAY.replace(day=1)


@pytest.fixture
def metered(team, stripe_fake):
    """Org A on pay-as-you-go (its subscription's customer), at 1.25 × list price, with a month of
    calls (this month's days up to today) rolled up; and one call not rolled up yet."""
    customer = stripe_customer_ensure(organization=team.org)
    BillingAccount.objects.filter(organization=team.org).update(plan=Plan.PAYG, price_multiplier=Decimal("1.25"))
    rng = random.Random(19)
    days = (TODAY - MONTH_START).days + 1
    records = [
        record(
            team.org.id,
            team.key.id,
            datetime.combine(MONTH_START, datetime.min.time(), tzinfo=UTC)
            + timedelta(days=rng.randrange(days), seconds=rng.randrange(0, 3600)),
            model=rng.choice(["alpha", "beta", "gamma"]),
            prompt_tokens=rng.randint(1, 5000),
            completion_tokens=rng.randint(0, 2000),
        )
        for _ in range(300)
    ]
    ingest(records)
    aggregate_usage()
    return customer


def month_total(org_id: UUID) -> Decimal:
    rows = MonthlyUsage.objects.filter(
        org_id=org_id, level=2, bucket__gte=datetime.combine(MONTH_START, datetime.min.time(), tzinfo=UTC)
    )
    return sum((r.cost for r in rows), Decimal(0))


def test_meter_events_for_the_month_equal_the_rollups_and_a_rerun_sends_nothing(db, team, stripe_fake, metered):
    assert export_stripe_usage(today=TODAY) > 0
    events = [stripe.billing.MeterEvent.construct_from(e, "sk_test_local") for e in stripe_fake.meter_events.values()]
    assert {e.payload["stripe_customer_id"] for e in events} == {metered}
    assert all(e.event_name == "llmaas_usage" for e in events)
    per_day: dict[date, int] = defaultdict(int)
    for e in events:
        per_day[datetime.fromtimestamp(e.timestamp, UTC).date()] += int(e.payload["value"])
    sent = sum(per_day.values())
    expected = month_total(team.org.id) * Decimal("1.25") * MICRO
    # Rounded per day (half up, micro-USD): within half a micro-dollar a day of the exact total.
    assert abs(Decimal(sent) - expected) <= Decimal("0.5") * len(per_day)
    assert sent == sum(MeterEventSent.objects.filter(organization=team.org).values_list("value", flat=True))

    requests = len(stripe_fake.received)
    assert export_stripe_usage(today=TODAY) == 0
    assert len(stripe_fake.received) == requests  # nothing new reached Stripe

    # A late call today: the next run sends only the difference, under a new identifier.
    ingest(
        [record(team.org.id, team.key.id, datetime.now(UTC), model="beta", prompt_tokens=1000, completion_tokens=1000)]
    )
    assert export_stripe_usage(today=TODAY) == 1
    late = [e for e in stripe_fake.meter_events.values() if e["identifier"].endswith(f"-{per_day[TODAY]}")]
    assert late and int(late[-1]["payload"]["value"]) == round(Decimal("0.004") * Decimal("1.25") * MICRO)


def test_a_retry_after_a_crash_is_counted_once(db, team, stripe_fake, metered):
    export_stripe_usage(today=TODAY)
    sent_before = dict(stripe_fake.meter_events)
    # The run crashed after Stripe accepted the events but before it recorded them.
    MeterEventSent.objects.filter(organization=team.org).delete()
    export_stripe_usage(today=TODAY)
    assert stripe_fake.meter_events == sent_before  # same identifiers: Stripe refused the duplicates
    refused = [r for r in stripe_fake.received if r.path == "/v1/billing/meter_events"]
    assert len(refused) == 2 * len(sent_before)
    total = sum(int(e["payload"]["value"]) for e in stripe_fake.meter_events.values())
    assert total == sum(MeterEventSent.objects.filter(organization=team.org).values_list("value", flat=True))
