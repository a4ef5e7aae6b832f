"""The authorization server with Django's test client: PKCE code flow, JWT access tokens on the
API, refresh rotation and reuse, S256 only."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import Application

from accounts.user_services import user_set_active
from llmaas.bearer import access_token_decode
from oauth.tests.pkce import Pkce, query_of

pytestmark = pytest.mark.django_db

REDIRECT = "http://127.0.0.1:9999/callback"


@pytest.fixture
def app(make_user) -> Application:
    return Application.objects.create(
        name="Notebook",
        client_id="notebook",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        algorithm=Application.RS256_ALGORITHM,
        user=make_user("appowner"),
    )


def authorize(client: Client, app: Application, pkce: Pkce, scope: str) -> str:
    params = pkce.authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope=scope)
    page = client.get("/o/authorize/", params)
    assert page.status_code == 200, page.content[:500]
    form = {k: v for k, v in params.items()}
    form["allow"] = "Authorize"
    answer = client.post("/o/authorize/", form)
    assert answer.status_code == 302, answer.content[:500]
    query = query_of(answer["Location"])
    assert query["state"] == pkce.state
    return query["code"]


def test_it_runs_the_code_flow_and_the_api_accepts_the_jwt(
    app, make_user, redis_client, django_capture_on_commit_callbacks
):
    alice = make_user("alice")
    client = Client()
    client.force_login(alice)
    pkce = Pkce()
    code = authorize(client, app, pkce, "openid profile email keys:read")
    token = Client().post("/o/token/", pkce.token_params(code=code, client_id=app.client_id, redirect_uri=REDIRECT))
    assert token.status_code == 200, token.content
    body = token.json()
    assert body["expires_in"] <= 900
    claims = access_token_decode(body["access_token"])
    assert claims.user_id == str(alice.pk)
    assert "keys:read" in claims.scopes
    api = Client(headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.get("/api/keys/").status_code == 200
    refused = api.post("/api/keys/", {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"

    again = Client().post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id},
    )
    assert again.status_code == 200, again.content
    newer = again.json()
    with django_capture_on_commit_callbacks(execute=True):
        reuse = Client().post(
            "/o/token/",
            {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id},
        )
    assert reuse.status_code == 400
    # the whole family is gone: the newer refresh token and the newer access token
    assert (
        Client()
        .post(
            "/o/token/",
            {"grant_type": "refresh_token", "refresh_token": newer["refresh_token"], "client_id": app.client_id},
        )
        .status_code
        == 400
    )
    dead = Client(headers={"Authorization": f"Bearer {newer['access_token']}"}).get("/api/keys/")
    assert dead.status_code == 401
    assert dead.json()["error"]["code"] == "invalid_token"


def test_it_refuses_plain_pkce(app, make_user):
    client = Client()
    client.force_login(make_user("alice"))
    pkce = Pkce()
    params = pkce.authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope="openid")
    params["code_challenge_method"] = "plain"
    params["code_challenge"] = pkce.verifier
    answer = client.get("/o/authorize/", params)
    assert answer.status_code == 302
    assert query_of(answer["Location"])["error"] == "invalid_request"


def test_deactivating_the_user_kills_their_tokens(app, make_user, redis_client, django_capture_on_commit_callbacks):
    alice = make_user("alice")
    client = Client()
    client.force_login(alice)
    pkce = Pkce()
    code = authorize(client, app, pkce, "openid keys:read")
    body = (
        Client().post("/o/token/", pkce.token_params(code=code, client_id=app.client_id, redirect_uri=REDIRECT)).json()
    )
    api = Client(headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.get("/api/keys/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user_set_active(user=alice, active=False, by=None)
    assert api.get("/api/keys/").status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id}
    assert Client().post("/o/token/", refresh).status_code == 400
    # Reactivated, the old token stays dead (it was deny-listed, not merely refused).
    with django_capture_on_commit_callbacks(execute=True):
        user_set_active(user=alice, active=True, by=None)
    assert api.get("/api/keys/").status_code == 401
