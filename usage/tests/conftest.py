from dataclasses import dataclass

import pytest

from accounts.models import Organization, User
from accounts.services import membership_set, organization_create
from keys.models import ApiKey
from keys.services import key_issue
from usage.tests.factories import priced_models


@dataclass
class Team:
    org: Organization
    people: dict[str, User]
    keys: dict[str, ApiKey]  # "alice": created by alice, "dave": created by dave


@pytest.fixture
def team(make_user, redis_client) -> Team:
    """Org A: alice owner, frank admin, dave member, bob viewer, erin billing; charlie is elsewhere.
    Keys: one created by alice, one by dave."""
    priced_models()
    people = {name: make_user(name) for name in ("alice", "frank", "dave", "bob", "erin", "charlie")}
    org = organization_create(name="Org A", owner=people["alice"])
    for name, role in (("frank", "admin"), ("dave", "member"), ("bob", "viewer"), ("erin", "billing")):
        membership_set(organization=org, user=people[name], role=role)
    keys = {
        name: key_issue(organization=org, created_by=people[name], name=f"{name}'s key").key
        for name in ("alice", "dave")
    }
    return Team(org, people, keys)
