"""Operators in the admin: redemption codes (amount, uses, expiry) and ledger corrections, which
reach a prepaid wallet at once; a ledger entry cannot be changed or deleted there."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from billing.models import LedgerEntry, Plan, RedemptionCode
from billing.services import plan_set
from billing.wallet import wallet_state


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@billing.test", password=None))
    return client


def test_an_operator_creates_a_code_with_amount_uses_and_expiry(admin_client):
    response = admin_client.post(
        "/admin/billing/redemptioncode/add/",
        {"code": "LAUNCH", "amount": "10.00", "max_uses": "100", "expires_at_0": "2099-01-01",
         "expires_at_1": "00:00:00", "created_at_0": "2026-01-01", "created_at_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    code = RedemptionCode.objects.get(code="LAUNCH")
    assert (code.amount, code.max_uses, code.uses, code.expires_at.year) == (Decimal("10.00"), 100, 0, 2099)


def test_an_adjustment_reaches_the_wallet_and_entries_stay_as_written(
    admin_client, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        plan_set(organization=team.org, plan=Plan.PREPAID)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/billing/ledgerentry/add/",
            {"organization": str(team.org.id), "kind": "adjustment", "amount": "2.50", "reference": "ticket-42",
             "memo": "goodwill"},
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = LedgerEntry.objects.get(reference="ticket-42")
    state = wallet_state(team.org.id)
    assert state is not None and state["credit"] == 2_500_000_000
    refused = admin_client.post(
        f"/admin/billing/ledgerentry/{entry.pk}/change/",
        {"organization": str(team.org.id), "kind": "adjustment", "amount": "99", "reference": "ticket-42"},
    )
    assert refused.status_code == 403
    assert admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.amount == Decimal("2.50")
    usage = admin_client.post(
        "/admin/billing/ledgerentry/add/",
        {"organization": str(team.org.id), "kind": "usage", "amount": "-1", "reference": "fake-usage"},
    )
    assert usage.status_code == 200 and not LedgerEntry.objects.filter(reference="fake-usage").exists()
