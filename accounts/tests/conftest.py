import uuid
from contextlib import contextmanager

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import membership_set, organization_create


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hashing at production cost makes every persona take a second on these machines."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clean_redis(redis_client):
    """Failed sign-ins and published keys do not carry over to the next test."""
    return redis_client


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): …`` runs what the block queued for after the commit (mail, publishing)."""

    @contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


@pytest.fixture
def team(make_user):
    """Org A: alice owns it, bob is a viewer, dave a member; charlie owns org B."""
    people = {name: make_user(name) for name in ("alice", "bob", "dave", "charlie")}
    org_a = organization_create(name="Org A", owner=people["alice"])
    membership_set(organization=org_a, user=people["bob"], role="viewer")
    membership_set(organization=org_a, user=people["dave"], role="member")
    org_b = organization_create(name="Org B", owner=people["charlie"])
    return org_a, org_b, people


def session_client(user: User, password: str | None = None, **extra) -> APIClient:
    """A client logged in through the API, sending the CSRF token like a browser would."""
    client = APIClient(enforce_csrf_checks=True, **extra)
    name = user.email.split("-")[0]
    response = client.post(
        "/api/auth/login", {"email": user.email, "password": password or f"pw-{name}"}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_X_CSRFTOKEN=client.get("/api/auth/csrf").json()["csrf_token"])
    return client


def unique_email(domain: str = "example.com") -> str:
    return f"u-{uuid.uuid4().hex[:8]}@{domain}"
