"""End to end through nginx with a real HTTP client: the authorization server's whole code flow
(login form, consent, code, token), the API with the Bearer token, refresh rotation and the
reuse that revokes the family, and what the server refuses (implicit and password grants, a
redirect URI one character off, plain PKCE, too few scopes, a role that lacks the action)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from jwcrypto import jwk, jwt

from inference.tests.test_data_plane import poll
from oauth.tests.pkce import Pkce, query_of

pytestmark = pytest.mark.stack
REDIRECT = "http://127.0.0.1:7777/callback"
TIMEOUT = 15  # design target: a revoked token is refused at once; polled with headroom


@pytest.fixture(scope="module")
def world(e2e) -> dict[str, str]:
    """alice owns an organization where bob is a viewer; a third-party public client."""
    run = uuid.uuid4().hex[:6]
    out = e2e.stack.manage(
        "shell",
        "-c",
        "import json; from django.utils import timezone; from accounts.models import Organization, User; "
        "from accounts.services import membership_set, organization_create; "
        "from oauth2_provider.models import Application\n"
        f"alice = User.objects.create_user(email='alice-{run}@example.com', password='pw-alice-{run}', "
        "approved_at=timezone.now(), email_verified_at=timezone.now())\n"
        f"bob = User.objects.create_user(email='bob-{run}@example.com', password='pw-bob-{run}', "
        "approved_at=timezone.now(), email_verified_at=timezone.now())\n"
        f"org = organization_create(owner=alice, name='Acme {run}')\n"
        "membership_set(organization=org, user=bob, role='viewer')\n"
        f"app = Application.objects.create(name='Notebook {run}', client_id='notebook-{run}', "
        "client_type='public', authorization_grant_type='authorization-code', "
        f"redirect_uris='{REDIRECT}', post_logout_redirect_uris='{REDIRECT}', algorithm='RS256')\n"
        "print(json.dumps({'org': str(org.id), 'client_id': app.client_id}))",
    )
    ids = json.loads(out.strip().splitlines()[-1])
    return {
        **ids,
        "alice": f"alice-{run}@example.com",
        "alice_pw": f"pw-alice-{run}",
        "bob": f"bob-{run}@example.com",
        "bob_pw": f"pw-bob-{run}",
    }


def _form_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="submit"' not in tag:
            fields[name.group(1)] = value.group(1).replace("&amp;", "&") if value else ""
    return fields


def authorize(
    e2e, client_id: str, email: str, password: str, scope: str, pkce: Pkce, consent: bool = True
) -> tuple[httpx.Client, str]:
    """A browser's trip: /o/authorize → login form → consent → redirect with the code."""
    browser = httpx.Client(base_url=e2e.public, timeout=30)
    params = pkce.authorize_params(client_id=client_id, redirect_uri=REDIRECT, scope=scope)
    first = browser.get("/o/authorize/", params=params)
    assert first.status_code == 302 and first.headers["location"].startswith("/o/login?next="), first.text[:300]
    login_page = browser.get(first.headers["location"])
    assert login_page.status_code == 200
    fields = _form_fields(login_page.text)
    logged_in = browser.post(first.headers["location"], data={**fields, "email": email, "password": password})
    assert logged_in.status_code == 302, logged_in.text[:500]
    page = browser.get(logged_in.headers["location"])
    if consent:
        assert page.status_code == 200, page.text[:500]
        assert "wants to access your LLMaaS account" in page.text
        page = browser.post(
            "/o/authorize/?" + urlencode(params), data={**_form_fields(page.text), "allow": "Authorize"}
        )
    assert page.status_code == 302, page.text[:500]
    location = page.headers["location"]
    assert location.startswith(REDIRECT)
    query = query_of(location)
    assert query["state"] == pkce.state
    assert query["iss"] == e2e.public  # RFC 9207: the response names its issuer
    return browser, query["code"]


def token(e2e, data: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{e2e.public}/o/token/", data=data, timeout=30)


def bearer(e2e, access: str) -> httpx.Client:
    return httpx.Client(base_url=e2e.public, headers={"Authorization": f"Bearer {access}"}, timeout=30)


def test_it_runs_the_whole_flow_through_nginx_and_revokes_the_family_on_reuse(e2e, world):
    discovery = httpx.get(f"{e2e.public}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == e2e.public
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert set(discovery["response_types_supported"]) == {"code"}
    jwks = jwk.JWKSet.from_json(httpx.get(discovery["jwks_uri"]).text)

    pkce = Pkce()
    scope = "openid profile email keys:read usage:read"
    _, code = authorize(e2e, world["client_id"], world["alice"], world["alice_pw"], scope, pkce)
    issued = token(e2e, pkce.token_params(code=code, client_id=world["client_id"], redirect_uri=REDIRECT))
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] <= 900
    # The ID token is signed by a key of the JWKS and names the user.
    id_token = jwt.JWT(jwt=tokens["id_token"], key=jwks, expected_type="JWS")
    claims = json.loads(id_token.claims)
    assert claims["iss"] == e2e.public and claims["aud"] == world["client_id"] and claims["nonce"] == pkce.nonce
    assert claims["email"] == world["alice"]
    # The access token is a JWT signed by the same keys (RS256, with its kid).
    access = jwt.JWT(jwt=tokens["access_token"], key=jwks, expected_type="JWS")
    assert access.token.jose_header["kid"] in {k["kid"] for k in json.loads(jwks.export(private_keys=False))["keys"]}
    assert json.loads(access.claims)["sub"] == claims["sub"]

    api = bearer(e2e, tokens["access_token"])
    assert api.get("/api/keys/", headers={"LLMaaS-Organization": world["org"]}).status_code == 200
    assert api.get("/api/usage/summary").status_code == 200
    userinfo = api.get("/o/userinfo/")
    assert userinfo.status_code == 200 and userinfo.json()["email"] == world["alice"]
    refused = api.post("/api/keys/", json={"name": "nope"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert 'scope="keys:write"' in refused.headers["www-authenticate"]

    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": world["client_id"]}
    rotated = token(e2e, refresh)
    assert rotated.status_code == 200, rotated.text
    newer = rotated.json()
    assert newer["refresh_token"] != tokens["refresh_token"]
    assert bearer(e2e, newer["access_token"]).get("/api/keys/").status_code == 200

    reused = token(e2e, refresh)  # the rotated refresh token, presented again
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The whole family is revoked: the newest refresh token, and every access token of it.
    assert token(e2e, {**refresh, "refresh_token": newer["refresh_token"]}).status_code == 400
    assert poll(lambda: bearer(e2e, newer["access_token"]).get("/api/keys/").status_code == 401, TIMEOUT)
    dead = bearer(e2e, newer["access_token"]).get("/api/keys/")
    assert dead.json()["error"]["code"] == "invalid_token"
    assert bearer(e2e, tokens["access_token"]).get("/api/keys/").status_code == 401


def test_it_refuses_implicit_password_plain_pkce_and_a_redirect_uri_one_character_off(e2e, world):
    pkce = Pkce()
    browser, _ = authorize(e2e, world["client_id"], world["alice"], world["alice_pw"], "openid", pkce)
    base = pkce.authorize_params(client_id=world["client_id"], redirect_uri=REDIRECT, scope="openid")

    implicit = browser.get("/o/authorize/", params={**base, "response_type": "token"})
    assert implicit.status_code in (302, 400)
    if implicit.status_code == 302:
        assert "access_token" not in implicit.headers["location"]
        assert query_of(implicit.headers["location"])["error"] in {"unsupported_response_type", "unauthorized_client"}

    off_by_one = browser.get("/o/authorize/", params={**base, "redirect_uri": REDIRECT + "x"})
    assert off_by_one.status_code == 400  # never redirected to an unregistered URI
    assert "location" not in off_by_one.headers

    plain = browser.get(
        "/o/authorize/", params={**base, "code_challenge_method": "plain", "code_challenge": pkce.verifier}
    )
    assert plain.status_code == 302 and query_of(plain.headers["location"])["error"] == "invalid_request"

    no_pkce = {k: v for k, v in base.items() if not k.startswith("code_challenge")}
    missing = browser.get("/o/authorize/", params=no_pkce)
    assert missing.status_code == 302 and query_of(missing.headers["location"])["error"] == "invalid_request"

    password = token(
        e2e,
        {
            "grant_type": "password",
            "username": world["alice"],
            "password": world["alice_pw"],
            "client_id": world["client_id"],
        },
    )
    assert password.status_code in (400, 401)
    assert password.json()["error"] in {"unsupported_grant_type", "unauthorized_client", "invalid_client"}
    assert "access_token" not in password.json()


def test_a_viewers_token_with_keys_write_still_cannot_create_keys(e2e, world):
    pkce = Pkce()
    _, code = authorize(e2e, world["client_id"], world["bob"], world["bob_pw"], "openid keys:read keys:write", pkce)
    tokens = token(e2e, pkce.token_params(code=code, client_id=world["client_id"], redirect_uri=REDIRECT)).json()
    api = bearer(e2e, tokens["access_token"])
    refused = api.post("/api/keys/", json={"name": "nope"}, headers={"LLMaaS-Organization": world["org"]})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"  # the role, not the scope


def test_it_revokes_a_token(e2e, world):
    pkce = Pkce()
    _, code = authorize(e2e, world["client_id"], world["alice"], world["alice_pw"], "openid keys:read", pkce)
    tokens = token(e2e, pkce.token_params(code=code, client_id=world["client_id"], redirect_uri=REDIRECT)).json()
    api = bearer(e2e, tokens["access_token"])
    assert api.get("/api/keys/").status_code == 200
    revoked = httpx.post(
        f"{e2e.public}/o/revoke_token/", data={"token": tokens["access_token"], "client_id": world["client_id"]}
    )
    assert revoked.status_code == 200, revoked.text
    assert poll(lambda: api.get("/api/keys/").status_code == 401, TIMEOUT)


def test_rp_initiated_logout_ends_the_session_and_the_apps_tokens(e2e, world):
    pkce = Pkce()
    browser, code = authorize(e2e, world["client_id"], world["alice"], world["alice_pw"], "openid keys:read", pkce)
    tokens = token(e2e, pkce.token_params(code=code, client_id=world["client_id"], redirect_uri=REDIRECT)).json()
    api = bearer(e2e, tokens["access_token"])
    assert api.get("/api/keys/").status_code == 200
    out = browser.get("/o/logout/", params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": REDIRECT})
    assert out.status_code == 302 and out.headers["location"].startswith(REDIRECT), out.text[:300]
    again = browser.get(
        "/o/authorize/",
        params=Pkce().authorize_params(client_id=world["client_id"], redirect_uri=REDIRECT, scope="openid"),
    )
    assert again.status_code == 302 and again.headers["location"].startswith("/o/login")  # logged out
    assert poll(lambda: api.get("/api/keys/").status_code == 401, TIMEOUT)  # the app's tokens went with it
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": world["client_id"]}
    assert token(e2e, refresh).status_code == 400
    off_list = browser.get(
        "/o/logout/", params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}
    )
    assert "evil.example" not in off_list.headers.get("location", "")


def test_the_portal_is_a_first_party_public_client_created_at_first_start(e2e, world):
    pkce = Pkce()
    portal = "llmaas-portal"
    callback = f"{e2e.public}/auth/callback"
    browser = httpx.Client(base_url=e2e.public, timeout=30)
    login_page = browser.get("/o/login")
    browser.post(
        "/o/login", data={**_form_fields(login_page.text), "email": world["alice"], "password": world["alice_pw"]}
    )
    answer = browser.get(
        "/o/authorize/",
        params=pkce.authorize_params(
            client_id=portal, redirect_uri=callback, scope="openid profile keys:read keys:write"
        ),
    )
    assert answer.status_code == 302, answer.text[:300]  # no consent page for the portal itself
    code = query_of(answer.headers["location"])["code"]
    tokens = token(e2e, pkce.token_params(code=code, client_id=portal, redirect_uri=callback))
    assert tokens.status_code == 200, tokens.text
    api = bearer(e2e, tokens.json()["access_token"])
    created = api.post("/api/keys/", json={"name": "from the portal"})
    assert created.status_code == 201, created.text
    e2e.issued.append(created.json()["secret"])
