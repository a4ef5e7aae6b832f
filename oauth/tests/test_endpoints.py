"""The provider's other endpoints with Django's test client: discovery at the origin's root,
introspection by a confidential client, userinfo, and the grants that do not exist here."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from oauth2_provider.models import Application

from oauth.services import portal_client_ensure
from oauth.tests.pkce import Pkce, query_of

pytestmark = pytest.mark.django_db
REDIRECT = "http://127.0.0.1:9999/callback"


@pytest.fixture
def confidential(make_user) -> tuple[Application, str]:
    secret = "s3cret-" + "x" * 30
    app = Application.objects.create(
        name="Server app",
        client_id="server-app",
        client_secret=secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        algorithm=Application.RS256_ALGORITHM,
    )
    return app, secret


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _tokens(app: Application, secret: str, user, scope: str) -> dict[str, str]:
    browser = Client()
    browser.force_login(user)
    pkce = Pkce()
    params = pkce.authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope=scope)
    assert browser.get("/o/authorize/", params).status_code == 200
    answer = browser.post("/o/authorize/", {**params, "allow": "Authorize"})
    code = query_of(answer["Location"])["code"]
    response = Client(headers=_basic(app.client_id, secret)).post(
        "/o/token/", pkce.token_params(code=code, client_id=app.client_id, redirect_uri=REDIRECT)
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_it_publishes_discovery_at_the_origins_root(client, settings):
    root = client.get("/.well-known/openid-configuration").json()
    assert root == client.get("/o/.well-known/openid-configuration").json()
    assert root["issuer"] == settings.PUBLIC_URL
    assert root["jwks_uri"].endswith("/o/.well-known/jwks.json")
    assert root["code_challenge_methods_supported"] == ["S256"]
    assert root["response_types_supported"] == ["code"]
    assert "RS256" in root["id_token_signing_alg_values_supported"]
    assert root["end_session_endpoint"].endswith("/o/logout/")
    metadata = client.get("/.well-known/oauth-authorization-server")
    assert metadata.status_code == 200 and metadata.json()["issuer"] == settings.PUBLIC_URL


def test_a_confidential_client_introspects_and_userinfo_answers(confidential, make_user):
    app, secret = confidential
    alice = make_user("alice")
    tokens = _tokens(app, secret, alice, "openid email keys:read")
    seen = Client(headers=_basic(app.client_id, secret)).post("/o/introspect/", {"token": tokens["access_token"]})
    assert seen.status_code == 200, seen.content
    body = seen.json()
    assert body["active"] is True and body["client_id"] == app.client_id
    assert set(body["scope"].split()) == {"openid", "email", "keys:read"}
    gone = Client(headers=_basic(app.client_id, secret)).post("/o/introspect/", {"token": "not-a-token"})
    assert gone.json() == {"active": False}
    anonymous = Client().post("/o/introspect/", {"token": tokens["access_token"]})
    assert anonymous.status_code in (401, 403)

    info = Client(headers={"Authorization": f"Bearer {tokens['access_token']}"}).get("/o/userinfo/")
    assert info.status_code == 200
    assert info.json()["sub"] == str(alice.pk) and info.json()["email"] == alice.email


def test_it_refuses_the_password_and_implicit_grants(confidential, make_user):
    app, secret = confidential
    alice = make_user("alice")
    password = Client(headers=_basic(app.client_id, secret)).post(
        "/o/token/", {"grant_type": "password", "username": alice.email, "password": "pw-alice"}
    )
    assert password.status_code in (400, 401)
    assert "access_token" not in password.json()
    browser = Client()
    browser.force_login(alice)
    params = Pkce().authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope="openid")
    implicit = browser.get("/o/authorize/", {**params, "response_type": "token"})
    assert "access_token" not in implicit.get("Location", "")
    assert implicit.status_code in (302, 400)


def test_a_redirect_uri_one_character_off_is_never_followed(confidential, make_user):
    app, _ = confidential
    browser = Client()
    browser.force_login(make_user("alice"))
    params = Pkce().authorize_params(client_id=app.client_id, redirect_uri=REDIRECT + "x", scope="openid")
    answer = browser.get("/o/authorize/", params)
    assert answer.status_code == 400
    assert not answer.has_header("Location")


def test_the_portal_client_registers_its_extra_origins(settings):
    settings.PORTAL_EXTRA_ORIGINS = ["http://127.0.0.1:5173/"]
    app = portal_client_ensure()
    assert app.redirect_uris.split() == [f"{settings.PUBLIC_URL}/auth/callback", "http://127.0.0.1:5173/auth/callback"]
    assert app.post_logout_redirect_uris.split() == [f"{settings.PUBLIC_URL}/", "http://127.0.0.1:5173/"]
    assert app.client_type == Application.CLIENT_PUBLIC and app.skip_authorization
    settings.PORTAL_EXTRA_ORIGINS = []
    assert portal_client_ensure().redirect_uris == f"{settings.PUBLIC_URL}/auth/callback"
