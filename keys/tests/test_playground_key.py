"""POST /api/keys/playground: the portal playground's short-lived, budget-capped key."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from keys.models import ApiKey
from keys.publishing import key_snapshot
from keys.services import organization_limits_set
from llmaas.limits import BudgetPeriod

URL = "/api/keys/playground"


def test_it_issues_a_short_lived_budget_capped_key_that_stores_chats(org_a, api):
    org, p = org_a
    before = timezone.now()
    response = api(p["dave"], org).post(URL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith(body["prefix"]) and body["prefix"].startswith("sk-")
    expires_at = parse_datetime(body["expires_at"])
    assert expires_at is not None
    assert before + timedelta(seconds=899) <= expires_at <= timezone.now() + timedelta(seconds=901)
    assert Decimal(body["budget_usd"]) == Decimal("0.50") and body["store_chats"] is True

    key = ApiKey.objects.get(pk=body["id"])
    assert key.playground and key.store_chats and key.created_by == p["dave"] and key.organization == org
    assert key.budget_usd == Decimal("0.50") and key.budget_period == BudgetPeriod.LIFETIME
    assert body["secret"] not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    # What the proxy enforces: the expiry and the lifetime budget travel in the key's snapshot.
    snapshot = key_snapshot(key)
    assert snapshot is not None and snapshot.expires_at == pytest.approx(expires_at.timestamp())
    assert snapshot.store_chats is True
    assert snapshot.scopes[0].budget_nano == 500_000_000 and snapshot.scopes[0].budget_period == BudgetPeriod.LIFETIME

    listed = api(p["dave"], org).get("/api/keys/").json()["results"]
    assert [(k["id"], k["playground"], k["name"]) for k in listed] == [(body["id"], True, "Playground")]


def test_it_lists_the_models_the_organization_may_use_with_their_prices(org_a, api, catalog):
    org, p = org_a
    smollm2, _ = catalog
    smollm2.input_price_per_mtok, smollm2.output_price_per_mtok = Decimal("0.1"), Decimal("0.2")
    smollm2.save()
    models = api(p["dave"], org).post(URL).json()["models"]
    assert models == [
        {"name": "smollm2", "input_price_per_mtok": "0.100000", "output_price_per_mtok": "0.200000"},
        {"name": "tiny", "input_price_per_mtok": "0.000000", "output_price_per_mtok": "0.000000"},
    ]

    organization_limits_set(organization=org, changes={"models": ["tiny"]}, by=p["alice"])
    assert [m["name"] for m in api(p["dave"], org).post(URL).json()["models"]] == ["tiny"]


def test_a_new_playground_key_revokes_the_callers_previous_one_only(org_a, api):
    org, p = org_a
    first = api(p["dave"], org).post(URL).json()
    alices = api(p["alice"], org).post(URL).json()
    ordinary = api(p["dave"], org).post("/api/keys/", {"name": "mine"}, format="json").json()
    second = api(p["dave"], org).post(URL).json()

    assert ApiKey.objects.get(pk=first["id"]).revoked_at is not None
    assert ApiKey.objects.get(pk=first["id"]).revoked_by == p["dave"]
    live = set(ApiKey.objects.filter(revoked_at__isnull=True).values_list("id", flat=True))
    assert {str(k) for k in live} == {second["id"], alices["id"], ordinary["id"]}


def test_it_reads_its_lifetime_and_budget_from_the_settings(org_a, api, settings):
    org, p = org_a
    settings.PLAYGROUND_KEY_SECONDS = 60
    settings.PLAYGROUND_BUDGET_USD = "0.05"
    body = api(p["dave"], org).post(URL).json()
    expires_at = parse_datetime(body["expires_at"])
    assert expires_at is not None and expires_at <= timezone.now() + timedelta(seconds=61)
    assert ApiKey.objects.get(pk=body["id"]).budget_usd == Decimal("0.05")


@pytest.mark.parametrize("budget", ["nothing", "0", "-1", "NaN"])
def test_a_bad_budget_setting_is_refused_loudly(org_a, api, settings, budget):
    org, p = org_a
    settings.PLAYGROUND_BUDGET_USD = budget
    with pytest.raises(ImproperlyConfigured, match="LLMAAS_PLAYGROUND_BUDGET_USD"):
        api(p["dave"], org).post(URL)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("persona", ["bob", "erin"])
def test_viewers_and_billing_get_403_and_outsiders_404(org_a, api, persona):
    org, p = org_a
    refused = api(p[persona], org).post(URL)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    outsider = api(p["charlie"], org).post(URL)
    assert outsider.status_code == 404
    assert not ApiKey.objects.exists()


def test_an_account_pending_approval_gets_no_playground_key(org_a, api):
    org, p = org_a
    User.objects.filter(pk=p["dave"].pk).update(approved_at=None)
    dave = User.objects.get(pk=p["dave"].pk)
    refused = api(dave, org).post(URL)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_pending_approval"
    assert not ApiKey.objects.exists()


def test_only_post_is_allowed(org_a, api):
    org, p = org_a
    assert api(p["dave"], org).get(URL).status_code == 405
