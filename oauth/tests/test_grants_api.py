"""A user's grants: the third-party apps they authorized (after a real code flow), and revoking
one, which kills the app's tokens of that user at once and the inference keys it holds in their
name, and nobody else's."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Application, IDToken, RefreshToken
from rest_framework.test import APIClient

from accounts.models import Organization
from accounts.services import organization_create
from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from llmaas.bearer import access_token_encode
from oauth.services import portal_client_ensure
from oauth.tests.test_apps_api import register, sign_in

pytestmark = pytest.mark.django_db

GRANTS = "/api/auth/grants"


@pytest.fixture
def app(api, make_user) -> dict[str, str]:
    """A confidential app registered by ACME (client_id, client_secret)."""
    owner = make_user("owner")
    acme = organization_create(name="ACME", owner=owner)
    created = register(api, owner, acme, logo_url="https://acme.example/logo.png")
    assert created.status_code == 201, created.content
    return created.json()


def with_key(user, app, scope: str = "openid profile keys:read inference"):
    """The code flow with a key for the app (the user's personal organization, one model)."""
    choice = {"organization": str(Organization.objects.get(personal_for=user).pk), "models": ["smollm2"]}
    token = sign_in(user, app["client_id"], app["client_secret"], scope=scope, **choice, budget_usd="1")
    assert token.status_code == 200, token.content
    return token.json()


def test_it_lists_the_apps_the_user_authorized(api, app, make_user, catalog):
    alice = make_user("alice")
    assert api(alice).get(GRANTS).json() == {"results": []}
    with_key(alice, app)

    grants = api(alice).get(GRANTS)
    assert grants.status_code == 200, grants.content
    [grant] = grants.json()["results"]
    assert grant["client_id"] == app["client_id"] and grant["name"] == "Notebook"
    assert grant["organization"] == "ACME" and grant["logo_url"] == "https://acme.example/logo.png"
    assert grant["scopes"] == ["openid", "profile", "keys:read", "inference"]
    assert grant["keys"] == 1
    assert grant["first_authorized_at"] <= grant["last_authorized_at"]
    assert api(make_user("bob")).get(GRANTS).json() == {"results": []}  # only one's own


def test_a_first_party_app_is_not_a_grant(api, make_user):
    """The portal signs users in without a consent page: nothing to revoke there."""
    alice = make_user("alice")
    portal = portal_client_ensure()
    AccessToken.objects.create(
        user=alice, application=portal, token="t", expires="2999-01-01T00:00:00Z", scope="openid profile"
    )
    assert api(alice).get(GRANTS).json() == {"results": []}
    assert api(alice).delete(f"{GRANTS}/{portal.client_id}").status_code == 404


def test_revoking_a_grant_kills_the_users_tokens_and_keys_at_once(
    api, app, make_user, catalog, redis_client, django_capture_on_commit_callbacks
):
    alice, bob = make_user("alice"), make_user("bob")
    alices, bobs = with_key(alice, app), with_key(bob, app)
    alice_api = Client(headers={"Authorization": f"Bearer {alices['access_token']}"})
    assert alice_api.get("/api/keys/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        revoked = api(alice).delete(f"{GRANTS}/{app['client_id']}")
    assert revoked.status_code == 204, revoked.content

    dead = alice_api.get("/api/keys/")
    assert dead.status_code == 401 and dead.json()["error"]["code"] == "invalid_token"
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": alices["refresh_token"],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    assert Client().post("/o/token/", refresh).status_code == 400
    assert ApiKey.objects.get(pk=alices["llmaas_api_key_id"]).is_revoked
    assert not AccessToken.objects.filter(user=alice).exists() and not IDToken.objects.filter(user=alice).exists()
    assert not RefreshToken.objects.filter(user=alice, revoked__isnull=True).exists()
    assert api(alice).get(GRANTS).json() == {"results": []}
    event = AuditEvent.objects.get(action=AuditAction.OAUTH_GRANT_REVOKED)
    assert event.actor_id == alice.pk and event.details["client_id"] == app["client_id"]
    assert event.details["keys_revoked"] == 1

    # bob's grant to the same app is untouched
    assert Client(headers={"Authorization": f"Bearer {bobs['access_token']}"}).get("/api/keys/").status_code == 200
    assert not ApiKey.objects.get(pk=bobs["llmaas_api_key_id"]).is_revoked
    assert [g["client_id"] for g in api(bob).get(GRANTS).json()["results"]] == [app["client_id"]]

    again = api(alice).delete(f"{GRANTS}/{app['client_id']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "grant_not_found"


def test_a_grant_held_only_through_a_key_is_listed_and_revoked(api, app, make_user, catalog):
    """Tokens expire; the inference key the app holds is still the user's grant."""
    alice = make_user("alice")
    body = with_key(alice, app)
    AccessToken.objects.filter(user=alice).delete()
    RefreshToken.objects.filter(user=alice).delete()
    [grant] = api(alice).get(GRANTS).json()["results"]
    assert grant["scopes"] == ["inference"] and grant["keys"] == 1
    assert api(alice).delete(f"{GRANTS}/{app['client_id']}").status_code == 204
    assert ApiKey.objects.get(pk=body["llmaas_api_key_id"]).is_revoked


def test_an_unknown_app_is_404(api, make_user):
    missing = api(make_user("alice")).delete(f"{GRANTS}/no-such-client")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "grant_not_found"


def test_an_app_may_list_but_never_revoke_grants(app, make_user, catalog, redis_client, settings):
    """Listing is ``profile``; revoking is session only, whatever the token's scopes."""
    alice = make_user("alice")
    with_key(alice, app)
    token, _ = access_token_encode(
        keys=settings.OIDC_SIGNING_KEYS, user_id=str(alice.pk), client_id="x", scopes=["profile"], lifetime=60
    )
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(GRANTS).status_code == 200
    refused = client.delete(f"{GRANTS}/{app['client_id']}")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "session_required"
    assert Application.objects.filter(client_id=app["client_id"]).exists()
    assert AccessToken.objects.filter(user=alice).exists()
