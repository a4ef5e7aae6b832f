"""An organization's third-party OAuth apps through the REST API: owners and admins register them
(the client secret shown once), change them, rotate the secret, delete them (revoking what the app
holds first); members get 403, other organizations 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from accounts.models import Organization, User
from accounts.services import membership_set, organization_create
from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from oauth.models import OAuthApp
from oauth.tests.pkce import Pkce, query_of

pytestmark = pytest.mark.django_db

REDIRECT = "http://127.0.0.1:9999/callback"
APPS = "/api/organization/apps"


@pytest.fixture
def people(make_user):
    """alice owns org A (dave is a member, erin an admin); charlie owns org B."""
    users = {name: make_user(name) for name in ("alice", "dave", "erin", "charlie", "bob")}
    org_a = organization_create(name="Org A", owner=users["alice"])
    membership_set(organization=org_a, user=users["dave"], role="member")
    membership_set(organization=org_a, user=users["erin"], role="admin")
    org_b = organization_create(name="Org B", owner=users["charlie"])
    return users, org_a, org_b


def register(api, user, org: Organization, **fields):
    body = {"name": "Notebook", "client_type": "confidential", "redirect_uris": [REDIRECT], **fields}
    return api(user, org).post(APPS, body, format="json")


def test_it_registers_a_confidential_app_and_shows_its_secret_once(api, people):
    users, org_a, _ = people
    created = register(api, users["alice"], org_a, logo_url="https://cdn.example/logo.png")
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["client_secret"]
    assert len(secret) >= 32
    assert body["client_type"] == "confidential" and body["redirect_uris"] == [REDIRECT]
    assert body["logo_url"] == "https://cdn.example/logo.png" and body["created_by"] == users["alice"].email

    application = Application.objects.get(client_id=body["client_id"])
    assert application.client_secret != secret and check_password(secret, application.client_secret)
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.algorithm == Application.RS256_ALGORITHM and not application.skip_authorization
    owner = OAuthApp.objects.get(application=application)
    assert owner.organization == org_a and owner.created_by == users["alice"]

    shown = api(users["alice"], org_a).get(f"{APPS}/{body['client_id']}")
    assert shown.status_code == 200 and "client_secret" not in shown.json()
    listed = api(users["erin"], org_a).get(APPS).json()["results"]
    assert [a["client_id"] for a in listed] == [body["client_id"]] and "client_secret" not in listed[0]
    event = AuditEvent.objects.get(action=AuditAction.OAUTH_APP_CREATED)
    assert event.org_id == org_a.id and event.details["client_id"] == body["client_id"]
    assert secret not in str(event.details)


def test_a_public_app_has_no_secret_to_show_or_rotate(api, people):
    users, org_a, _ = people
    created = register(api, users["alice"], org_a, client_type="public")
    assert created.status_code == 201 and created.json()["client_secret"] is None
    rotated = api(users["alice"], org_a).post(f"{APPS}/{created.json()['client_id']}/secret")
    assert rotated.status_code == 409 and rotated.json()["error"]["code"] == "public_app_has_no_secret"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"redirect_uris": ["http://app.example/callback"]}, "invalid_redirect_uri"),  # http off loopback
        ({"redirect_uris": ["https://app.example/cb#token"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://*.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["/relative/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://user:pw@app.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://app.example/a b"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://[::1/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [f"https://app.example/{i}" for i in range(11)]}, "invalid_request"),
        ({"redirect_uris": []}, "invalid_request"),
        ({"post_logout_redirect_uris": ["http://evil.example/"]}, "invalid_redirect_uri"),
        ({"logo_url": "http://cdn.example/logo.png"}, "invalid_logo_url"),
        ({"logo_url": "javascript:alert(1)"}, "invalid_logo_url"),
        ({"client_type": "spa"}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
    ],
)
def test_it_refuses_bad_fields(api, people, fields, code):
    users, org_a, _ = people
    refused = register(api, users["alice"], org_a, **fields)
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == code
    assert not Application.objects.exists()


def test_it_accepts_https_and_loopback_http_redirects(api, people):
    users, org_a, _ = people
    uris = ["https://app.example/cb?x=1", "http://127.0.0.1:8765/cb", "http://localhost/cb", "http://[::1]:9/cb"]
    created = register(
        api, users["alice"], org_a, redirect_uris=uris, post_logout_redirect_uris=["https://app.example/"]
    )
    assert created.status_code == 201, created.content
    assert created.json()["redirect_uris"] == uris
    assert created.json()["post_logout_redirect_uris"] == ["https://app.example/"]


def test_it_changes_an_app(api, people):
    users, org_a, _ = people
    client_id = register(api, users["alice"], org_a).json()["client_id"]
    changed = api(users["erin"], org_a).patch(
        f"{APPS}/{client_id}",
        {"name": "Notebook 2", "redirect_uris": ["https://nb.example/cb"], "logo_url": "https://nb.example/l.png"},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "Notebook 2" and changed.json()["redirect_uris"] == ["https://nb.example/cb"]
    application = Application.objects.get(client_id=client_id)
    assert application.redirect_uris == "https://nb.example/cb"
    assert OAuthApp.objects.get(application=application).logo_url == "https://nb.example/l.png"
    assert AuditEvent.objects.get(action=AuditAction.OAUTH_APP_CHANGED).details["fields"] == [
        "name",
        "redirect_uris",
        "logo_url",
    ]
    refused = api(users["erin"], org_a).patch(
        f"{APPS}/{client_id}", {"redirect_uris": ["http://x.example/"]}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_redirect_uri"
    assert Application.objects.get(client_id=client_id).redirect_uris == "https://nb.example/cb"


def test_members_get_403_and_other_organizations_404(api, people):
    users, org_a, org_b = people
    client_id = register(api, users["alice"], org_a).json()["client_id"]
    item = f"{APPS}/{client_id}"
    dave = api(users["dave"], org_a)
    for response in (
        dave.get(APPS),
        dave.post(APPS, {"name": "x", "client_type": "public", "redirect_uris": [REDIRECT]}, format="json"),
        dave.get(item),
        dave.patch(item, {"name": "x"}, format="json"),
        dave.delete(item),
        dave.post(f"{item}/secret"),
    ):
        assert response.status_code == 403, response.content
    for org in (org_a, org_b):  # charlie: outside org A, and org A's app is not in his org B
        charlie = api(users["charlie"], org)
        for response in (
            charlie.get(item),
            charlie.patch(item, {"name": "x"}, format="json"),
            charlie.delete(item),
            charlie.post(f"{item}/secret"),
        ):
            assert response.status_code == 404, response.content
    assert api(users["charlie"], org_b).get(APPS).json()["results"] == []
    assert Application.objects.get(client_id=client_id).name == "Notebook"


# --- with a real authorization code flow ---------------------------------------------------------
def sign_in(user, client_id: str, secret: str | None, scope: str = "openid keys:read", **choice: object):
    """The code flow as ``user`` (consent given); returns the token response."""
    browser = Client()
    browser.force_login(user)
    pkce = Pkce()
    params = pkce.authorize_params(client_id=client_id, redirect_uri=REDIRECT, scope=scope)
    assert browser.get("/o/authorize/", params).status_code == 200
    answer = browser.post("/o/authorize/", {**params, "allow": "Authorize", **choice})
    assert answer.status_code == 302, answer.content[:500]
    code = query_of(answer["Location"])["code"]
    return exchange(pkce, code, client_id, secret)


def exchange(pkce: Pkce, code: str, client_id: str, secret: str | None):
    form = pkce.token_params(code=code, client_id=client_id, redirect_uri=REDIRECT)
    if secret is not None:
        form["client_secret"] = secret
    return Client().post("/o/token/", form)


def test_rotating_the_secret_retires_the_old_one(api, people):
    users, org_a, _ = people
    created = register(api, users["alice"], org_a).json()
    client_id, old = created["client_id"], created["client_secret"]
    assert sign_in(users["bob"], client_id, old).status_code == 200

    rotated = api(users["alice"], org_a).post(f"{APPS}/{client_id}/secret")
    assert rotated.status_code == 201, rotated.content
    new = rotated.json()["client_secret"]
    assert new != old and rotated.json()["client_id"] == client_id
    assert sign_in(users["bob"], client_id, old).status_code == 401  # invalid_client
    assert sign_in(users["bob"], client_id, new).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.OAUTH_APP_SECRET_ROTATED, org_id=org_a.id).count() == 1


def test_deleting_an_app_revokes_its_tokens_and_keys_first(
    api, people, catalog, redis_client, django_capture_on_commit_callbacks
):
    users, org_a, _ = people
    created = register(api, users["alice"], org_a).json()
    client_id, secret = created["client_id"], created["client_secret"]
    bob = users["bob"]
    choice = {"organization": str(Organization.objects.get(personal_for=bob).pk), "models": ["smollm2"]}
    token = sign_in(bob, client_id, secret, scope="openid keys:read inference", **choice, budget_usd="1")
    assert token.status_code == 200, token.content
    body = token.json()
    key = ApiKey.objects.get(pk=body["llmaas_api_key_id"])
    bearer = Client(headers={"Authorization": f"Bearer {body['access_token']}"})
    assert bearer.get("/api/keys/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        deleted = api(users["alice"], org_a).delete(f"{APPS}/{client_id}")
    assert deleted.status_code == 204, deleted.content
    assert not Application.objects.filter(client_id=client_id).exists()
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    key.refresh_from_db()
    assert key.is_revoked and key.revoked_by == users["alice"]
    dead = bearer.get("/api/keys/")
    assert dead.status_code == 401 and dead.json()["error"]["code"] == "invalid_token"
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": client_id}
    assert Client().post("/o/token/", {**refresh, "client_secret": secret}).status_code in (400, 401)
    event = AuditEvent.objects.get(action=AuditAction.OAUTH_APP_DELETED)
    assert event.org_id == org_a.id and event.details["keys_revoked"] == 1
    assert api(users["alice"], org_a).get(f"{APPS}/{client_id}").status_code == 404


def test_the_admin_shows_the_owner_and_deleting_there_revokes_the_keys(api, people, catalog):
    users, org_a, _ = people
    created = register(api, users["alice"], org_a).json()
    bob = users["bob"]
    choice = {"organization": str(Organization.objects.get(personal_for=bob).pk), "models": ["smollm2"]}
    body = sign_in(
        bob, created["client_id"], created["client_secret"], scope="openid inference", **choice, budget_usd="1"
    )
    application = Application.objects.get(client_id=created["client_id"])
    operator = User.objects.create_superuser(email="ops@ops.example", password=None)
    admin = Client()
    admin.force_login(operator)

    listed = admin.get("/admin/oauth2_provider/application/")
    assert listed.status_code == 200 and "Org A" in listed.content.decode()
    page = admin.get(f"/admin/oauth2_provider/application/{application.pk}/change/")
    assert page.status_code == 200 and "OAuth app ownership" in page.content.decode()

    deleted = admin.post(f"/admin/oauth2_provider/application/{application.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302, deleted.content.decode()[:1000]
    assert not Application.objects.filter(pk=application.pk).exists()
    assert ApiKey.objects.get(pk=body.json()["llmaas_api_key_id"]).revoked_by == operator
    assert AuditEvent.objects.filter(action=AuditAction.ADMIN_DELETED, org_id=org_a.id).exists()
