"""POST /api/webhooks/stripe: Stripe's signature (checked by the stripe library), once per event
id, subscription state by event time; a top-up credits the ledger once and the wallet at once."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from billing.models import BillingAccount, LedgerEntry, Plan, StripeEvent
from billing.selectors import balance_get
from billing.services import plan_set, topup_session_create
from billing.tests.stripe_server import FakeStripe, sign
from billing.wallet import wallet_state

URL = "/api/webhooks/stripe"


def post(body: str, header: str | None) -> Any:
    headers = {"Stripe-Signature": header} if header is not None else {}
    return Client().post(URL, data=body, content_type="application/json", headers=headers)


def nothing_changed() -> None:
    assert LedgerEntry.objects.count() == 0
    assert StripeEvent.objects.count() == 0


@pytest.fixture
def paid_event(team, stripe_fake: FakeStripe) -> dict[str, Any]:
    session = topup_session_create(organization=team.org, amount=Decimal("25.00"))
    return stripe_fake.complete(session["id"])


def test_it_refuses_forged_unsigned_stale_and_replayed_events(db, paid_event, stripe_fake):
    body = json.dumps(paid_event)
    forged = post(body, sign(body, "whsec_someone_else"))
    unsigned = post(body, None)
    garbage = post(body, "v1=deadbeef")
    stale = post(body, sign(body, stripe_fake.webhook_secret, int(time.time()) - 301))
    # A genuine signature replayed over another body (the amount raised by the attacker).
    tampered = json.loads(body)
    tampered["data"]["object"]["amount_total"] = 10_000_00
    replayed = post(json.dumps(tampered), sign(body, stripe_fake.webhook_secret))
    for response in (forged, unsigned, garbage, stale, replayed):
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_signature"
    nothing_changed()
    assert balance_get(organization=paid_event_org(paid_event)) == 0


def paid_event_org(event: dict[str, Any]) -> Any:
    from accounts.models import Organization

    return Organization.objects.get(pk=event["data"]["object"]["metadata"]["organization_id"])


def test_it_credits_the_same_event_delivered_three_times_once(
    db, team, paid_event, stripe_fake, django_capture_on_commit_callbacks
):
    body = json.dumps(paid_event)
    answers = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(post(body, sign(body, stripe_fake.webhook_secret)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    entries = LedgerEntry.objects.filter(organization=team.org)
    assert [(e.kind, e.amount) for e in entries] == [("topup", Decimal("25.00"))]
    assert balance_get(organization=team.org) == Decimal("25.00")


def test_it_keeps_the_newest_subscription_state_whatever_the_delivery_order(
    db, team, stripe_fake, django_capture_on_commit_callbacks
):
    from billing.services import stripe_customer_ensure

    customer = stripe_customer_ensure(organization=team.org)
    now = int(time.time())
    sub = {"id": "sub_1", "object": "subscription", "customer": customer}
    events = [
        stripe_fake.event("customer.subscription.created", {**sub, "status": "incomplete"}, now - 30),
        stripe_fake.event("customer.subscription.updated", {**sub, "status": "active"}, now - 20),
        stripe_fake.event("customer.subscription.updated", {**sub, "status": "past_due"}, now - 10),
        stripe_fake.event("customer.subscription.deleted", {**sub, "status": "canceled"}, now),
    ]
    # Newest first: each older one arrives after a newer state was applied.
    for event in reversed(events[1:]):
        body = json.dumps(event)
        assert post(body, sign(body, stripe_fake.webhook_secret)).status_code == 200
    account = BillingAccount.objects.get(organization=team.org)
    assert (account.subscription_status, account.plan) == ("canceled", Plan.FREE)

    # The forward order ends active → past_due: still pay-as-you-go.
    BillingAccount.objects.filter(pk=account.pk).update(subscription_event_at=None, subscription_status="")
    later = [stripe_fake.event(e["type"], e["data"]["object"], e["created"] + 100) for e in events[:3]]
    for event in [later[2], later[0], later[1]]:
        body = json.dumps(event)
        assert post(body, sign(body, stripe_fake.webhook_secret)).status_code == 200
    account.refresh_from_db()
    assert (account.subscription_status, account.plan) == ("past_due", Plan.PAYG)


def test_a_topup_raises_the_prepaid_wallet_in_redis_on_commit(
    db, team, paid_event, stripe_fake, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        plan_set(organization=team.org, plan=Plan.PREPAID)
    assert wallet_state(team.org.id) == {"credit": 0, "spent": 0, "reserved": 0, "mult_ppm": 1_000_000}
    body = json.dumps(paid_event)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(body, sign(body, stripe_fake.webhook_secret)).status_code == 200
    state = wallet_state(team.org.id)
    assert state is not None and state["credit"] == 25 * 10**9
    # Leaving the prepaid plan removes the wallet: admission no longer checks a balance.
    with django_capture_on_commit_callbacks(execute=True):
        plan_set(organization=team.org, plan=Plan.FREE)
    assert wallet_state(team.org.id) is None


def test_refunds_follow_the_charges_refunded_amount(db, team, stripe_fake, django_capture_on_commit_callbacks):
    from billing.services import stripe_customer_ensure

    customer = stripe_customer_ensure(organization=team.org)
    charge = {"id": "ch_1", "object": "charge", "customer": customer, "amount": 2500}
    partial = stripe_fake.event("charge.refunded", {**charge, "amount_refunded": 1000})
    full = stripe_fake.event("charge.refunded", {**charge, "amount_refunded": 2500})
    stale = stripe_fake.event("charge.refunded", {**charge, "amount_refunded": 1000})  # a new id, an older figure
    for event in (partial, full, partial, stale):
        body = json.dumps(event)
        with django_capture_on_commit_callbacks(execute=True):
            assert post(body, sign(body, stripe_fake.webhook_secret)).status_code == 200
    refunds = LedgerEntry.objects.filter(organization=team.org, kind="refund").order_by("id")
    assert [e.amount for e in refunds] == [Decimal("-10.00"), Decimal("-15.00")]
