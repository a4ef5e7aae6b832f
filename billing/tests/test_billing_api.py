"""The billing API: who may do what, balance and ledger (pages, CSV), plans, top-up sessions
through the local Stripe server, invoices, redemption codes; the ledger refuses rewrites."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from billing.ledger import entry_append
from billing.models import BillingAccount, EntryKind, LedgerEntry, Plan, RedemptionCode


def test_billing_is_for_owners_admins_and_the_billing_role(db, team, api):
    for name in ("alice", "frank", "erin"):
        assert api(team.people[name], team.org).get("/api/billing/balance").status_code == 200, name
    for name in ("dave", "bob"):
        response = api(team.people[name], team.org).put("/api/billing/plan", {"plan": "prepaid"}, format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied", name
    assert api(team.people["charlie"], team.org).get("/api/billing/ledger").status_code == 404


def test_the_free_plan_comes_with_the_default_budget(db, team, api):
    client = api(team.people["erin"], team.org)
    body = client.get("/api/billing/plan").json()
    assert body["plan"] == "free" and body["price_multiplier"] == "1.0000"
    team.org.refresh_from_db()
    assert team.org.budget_usd is None  # reading billing changes no limit
    client.put("/api/billing/plan", {"plan": "prepaid"}, format="json")
    assert client.put("/api/billing/plan", {"plan": "free"}, format="json").json()["plan"] == "free"
    team.org.refresh_from_db()
    assert team.org.budget_usd == Decimal("5")


def test_the_ledger_pages_newest_first_and_exports_csv(db, team, api):
    for i in range(5):
        entry_append(
            organization=team.org, kind=EntryKind.ADJUSTMENT, amount=Decimal(i + 1), reference=f"a{i}", memo="=cmd"
        )
    client = api(team.people["erin"], team.org)
    first = client.get("/api/billing/ledger?limit=2").json()
    assert [r["amount_usd"] for r in first["results"]] == ["5.0000000000", "4.0000000000"]
    second = client.get(first["next"]).json()
    assert [r["amount_usd"] for r in second["results"]] == ["3.0000000000", "2.0000000000"]
    assert client.get("/api/billing/balance").json()["balance_usd"] == "15.0000000000"
    exported = client.get("/api/billing/ledger/export?format=csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [r["amount_usd"] for r in rows] == [
        "1.0000000000",
        "2.0000000000",
        "3.0000000000",
        "4.0000000000",
        "5.0000000000",
    ]
    assert rows[0]["memo"] == "'=cmd"  # no formula reaches a spreadsheet


def test_the_ledger_is_append_only(db, team):
    entry, _ = entry_append(organization=team.org, kind=EntryKind.ADJUSTMENT, amount=Decimal(1), reference="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal(1000))
    entry.refresh_from_db()
    assert entry.amount == Decimal(1)
    again, created = entry_append(organization=team.org, kind=EntryKind.ADJUSTMENT, amount=Decimal(9), reference="x")
    assert not created and again.pk == entry.pk


def test_a_topup_session_is_a_checkout_session_at_stripe(db, team, api, stripe_fake):
    client = api(team.people["erin"], team.org)
    response = client.post("/api/billing/topup", {"amount_usd": "12.34"}, format="json")
    assert response.status_code == 201, response.content
    sent = [r for r in stripe_fake.received if r.path == "/v1/checkout/sessions"][-1]
    session = stripe.checkout.Session.construct_from(
        {"id": "cs_x", "object": "checkout.session", **sent.params}, "sk_test_local"
    )
    assert session.mode == "payment" and session.metadata["organization_id"] == str(team.org.id)
    assert session.line_items[0]["price_data"]["unit_amount"] == "1234"
    assert response.json()["url"].startswith("https://checkout.stripe.test/pay/")
    assert BillingAccount.objects.get(organization=team.org).stripe_customer_id.startswith("cus_")
    assert AuditEvent.objects.filter(org_id=team.org.id, action="billing.topup_started").count() == 1
    for amount in ("1.00", "10.001", "999999"):
        bad = client.post("/api/billing/topup", {"amount_usd": amount}, format="json")
        assert bad.status_code == 400, amount
    assert LedgerEntry.objects.count() == 0  # a session credits nothing: only Stripe's event does


def test_invoices_come_from_stripe(db, team, api, stripe_fake):
    client = api(team.people["alice"], team.org)
    assert client.get("/api/billing/invoices").json() == {"results": []}  # no Stripe customer yet
    client.post("/api/billing/topup", {"amount_usd": "5"}, format="json")
    customer = BillingAccount.objects.get(organization=team.org).stripe_customer_id
    stripe_fake.invoices.append(
        {"id": "in_1", "object": "invoice", "customer": customer, "number": "LLM-0001", "status": "paid",
         "currency": "usd", "total": 1999, "amount_due": 0, "created": 1700000000,
         "hosted_invoice_url": "https://invoice.stripe.test/in_1", "invoice_pdf": ""}
    )  # fmt: skip
    results = client.get("/api/billing/invoices").json()["results"]
    assert [(i["number"], i["total"]) for i in results] == [("LLM-0001", "19.99")]


def test_a_code_credits_once_per_organization_within_its_uses_and_expiry(db, team, api, make_user):
    from accounts.services import organization_create

    RedemptionCode.objects.create(code="WELCOME", amount=Decimal("3.00"), max_uses=2)
    RedemptionCode.objects.create(code="OLD", amount=Decimal("3.00"), expires_at=timezone.now() - timedelta(days=1))
    client = api(team.people["erin"], team.org)
    assert client.post("/api/billing/redeem", {"code": "welcome"}, format="json").json() == {
        "credited_usd": "3.0000000000"
    }
    again = client.post("/api/billing/redeem", {"code": "WELCOME"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "code_already_redeemed"
    expired = client.post("/api/billing/redeem", {"code": "OLD"}, format="json")
    assert expired.status_code == 404 and expired.json()["error"]["code"] == "code_not_found"
    owners = [make_user(f"o{i}") for i in range(2)]
    others = [organization_create(name=f"O{i}", owner=owner) for i, owner in enumerate(owners)]
    first = api(owners[0], others[0]).post("/api/billing/redeem", {"code": "WELCOME"}, format="json")
    assert first.status_code == 200
    spent = api(owners[1], others[1]).post("/api/billing/redeem", {"code": "WELCOME"}, format="json")
    assert spent.status_code == 409 and spent.json()["error"]["code"] == "code_exhausted"
    assert LedgerEntry.objects.filter(kind=EntryKind.REDEMPTION).count() == 2
    assert client.get("/api/billing/balance").json()["balance_usd"] == "3.0000000000"


def test_the_plan_moves_between_free_and_prepaid_and_paygo_needs_a_subscription(db, team, api, stripe_fake):
    client = api(team.people["frank"], team.org)
    assert client.put("/api/billing/plan", {"plan": "prepaid"}, format="json").json()["plan"] == Plan.PREPAID
    refused = client.put("/api/billing/plan", {"plan": "payg"}, format="json")
    assert refused.status_code == 400
    session = client.post("/api/billing/subscription")
    assert session.status_code == 201
    sent = [r for r in stripe_fake.received if r.path == "/v1/checkout/sessions"][-1]
    assert sent.params["mode"] == "subscription" and sent.params["line_items"][0]["price"] == "price_metered_test"


def test_a_prepaid_balance_shows_what_admission_sees(db, team, api, django_capture_on_commit_callbacks):
    from billing.services import plan_set

    with django_capture_on_commit_callbacks(execute=True):
        plan_set(organization=team.org, plan=Plan.PREPAID)
        entry_append(organization=team.org, kind=EntryKind.ADJUSTMENT, amount=Decimal("2.5"), reference="gift")
    body = api(team.people["erin"], team.org).get("/api/billing/balance").json()
    assert body == {
        "balance_usd": "2.5000000000",
        "plan": "prepaid",
        "available_usd": "2.5000000000",
        "reserved_usd": "0.0000000000",
    }
