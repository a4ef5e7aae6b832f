import pytest

from accounts.services import membership_set, organization_create


@pytest.fixture
def org_a(make_user, catalog):
    """alice owns org A, bob is a viewer, dave a member, erin billing; charlie is elsewhere."""
    people = {name: make_user(name) for name in ("alice", "bob", "dave", "erin", "charlie")}
    org = organization_create(name="Org A", owner=people["alice"])
    membership_set(organization=org, user=people["bob"], role="viewer")
    membership_set(organization=org, user=people["dave"], role="member")
    membership_set(organization=org, user=people["erin"], role="billing")
    return org, people
