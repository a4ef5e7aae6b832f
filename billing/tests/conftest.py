"""Billing fixtures: an organization with its personas, and the local Stripe server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from accounts.models import Organization, User
from accounts.services import membership_set, organization_create
from billing.tests.stripe_server import FakeStripe, start
from keys.models import ApiKey
from keys.services import key_issue
from usage.tests.factories import priced_models

WEBHOOK_SECRET = "whsec_test_billing_0123456789abcdef"


@dataclass
class Team:
    org: Organization
    people: dict[str, User]
    key: ApiKey


@pytest.fixture
def team(make_user, redis_client) -> Team:
    """Org A: alice owner, frank admin, erin billing, dave member, bob viewer; charlie elsewhere."""
    priced_models()
    people = {name: make_user(name) for name in ("alice", "frank", "erin", "dave", "bob", "charlie")}
    org = organization_create(name="Org A", owner=people["alice"])
    for name, role in (("frank", "admin"), ("erin", "billing"), ("dave", "member"), ("bob", "viewer")):
        membership_set(organization=org, user=people[name], role=role)
    organization_create(name="Org C", owner=people["charlie"])
    key = key_issue(organization=org, created_by=people["alice"], name="alice's key").key
    return Team(org, people, key)


@pytest.fixture
def stripe_fake(settings) -> Iterator[FakeStripe]:
    fake = start(WEBHOOK_SECRET)
    settings.STRIPE_API_KEY = "sk_test_local"
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_METERED_PRICE_ID = "price_metered_test"
    yield fake
    assert fake.server is not None
    fake.server.shutdown()
