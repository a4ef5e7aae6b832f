"""Every API view says which OAuth scope each of its methods needs (llmaas/scopes.py has the
rules): a view that declares nothing would refuse every token (ScopePermission's default deny),
so a new endpoint that forgets its scope fails here, by name, instead of in an app's hands."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.test import RequestFactory
from jwcrypto import jwk
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import Organization, User
from accounts.services import membership_set, organization_create
from keys.models import ApiKey
from llmaas.bearer import BearerAuthentication, ScopePermission, access_token_encode, required_scope
from llmaas.scopes import KEYS_READ, KEYS_WRITE, SCOPES, SESSION_ONLY
from llmaas.signing_keys import SigningKeys
from llmaas.tests.urlconf import routes, view_class

METHODS = ("get", "post", "put", "patch", "delete")

# drf-spectacular's own views: public documents (AllowAny), nothing a token could unlock.
NOT_OURS = ("api/schema/", "api/docs/", "api/redoc/")


def api_views() -> dict[str, type[APIView]]:
    """Every DRF view of the URL conf, by route (function views have no scopes: they take no token)."""
    return {
        route: view
        for route, callback in routes()
        if (view := view_class(callback)) is not None and not route.startswith(NOT_OURS)
    }


def implemented(view: type[APIView]) -> list[str]:
    return [m.upper() for m in METHODS if hasattr(view, m)]


def test_it_walks_the_api():
    views = api_views()
    assert "api/keys/" in views and "api/organization/members/<str:user_id>" in views
    assert len(views) > 30


def test_it_names_every_view_and_method_without_a_scope():
    missing = [
        f"{method} /{route} ({view.__module__}.{view.__name__})"
        for route, view in api_views().items()
        for method in implemented(view)
        if required_scope(view(), method) is None
    ]
    assert not missing, (
        "API views that declare no scope for a method: add `required_scopes = {method: scope}` "
        f"(llmaas/scopes.py says which; SESSION_ONLY for the portal's own endpoints): {missing}"
    )


def test_it_accepts_only_known_scopes_for_methods_that_exist():
    wrong = []
    for route, view in api_views().items():
        declared: dict[str, str] = getattr(view, "required_scopes", {})
        for method, scope in declared.items():
            if scope not in SCOPES and scope != SESSION_ONLY:
                wrong.append(f"{method} /{route}: unknown scope {scope!r}")
            if method != "*" and method not in implemented(view):
                wrong.append(f"{method} /{route}: the view has no such method")
    assert not wrong, wrong


def test_it_enforces_the_scopes_on_every_view_that_needs_a_login():
    """A view with its own permission_classes drops the default ScopePermission; only AllowAny
    views (anonymous anyway: sign-up, login, password reset…) may do so."""
    unguarded = [
        f"/{route} ({view.__name__})"
        for route, view in api_views().items()
        if not any(isinstance(p, ScopePermission) for p in view().get_permissions())
        and not any(isinstance(p, AllowAny) for p in view().get_permissions())
    ]
    assert not unguarded, f"views whose permission_classes leave out ScopePermission: {unguarded}"


# --- Bearer tokens on the API: the scope, the role, and a token that is not (or no longer) good ---
@pytest.fixture
def team(make_user):
    """alice owns a team in which bob is a viewer."""
    alice, bob = make_user("alice"), make_user("bob")
    org = organization_create(name="Team", owner=alice)
    membership_set(organization=org, user=bob, role="viewer")
    return org, alice, bob


def bearer(user: User, scopes: list[str], **kwargs: Any) -> str:
    token, _ = access_token_encode(
        keys=kwargs.pop("keys", settings.OIDC_SIGNING_KEYS),
        user_id=str(user.pk),
        client_id="test",
        scopes=scopes,
        lifetime=600,
        **kwargs,
    )
    return token


def call(token: str, org: Organization, method: str = "post", path: str = "/api/keys/") -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_LLMAAS_ORGANIZATION=str(org.id))
    return getattr(client, method)(path, {"name": "from an app"} if method == "post" else None, format="json")


def test_it_refuses_a_write_to_a_token_that_may_only_read(team, redis_client):
    org, alice, _ = team
    token = bearer(alice, [KEYS_READ])
    assert call(token, org, "get").status_code == 200
    response = call(token, org)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert 'scope="keys:write"' in response["WWW-Authenticate"]
    assert not ApiKey.objects.filter(organization=org).exists()


def test_it_refuses_what_the_role_forbids_whatever_the_token_scopes(team, redis_client):
    org, _, bob = team
    response = call(bearer(bob, [KEYS_READ, KEYS_WRITE]), org)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ApiKey.objects.filter(organization=org).exists()


def test_it_lets_a_token_with_the_scope_and_the_role_create_a_key(team, redis_client):
    org, alice, _ = team
    response = call(bearer(alice, [KEYS_WRITE]), org)
    assert response.status_code == 201, response.content
    assert ApiKey.objects.filter(organization=org, created_by=alice).count() == 1


def _assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_it_refuses_an_expired_token(team, redis_client):
    org, alice, _ = team
    _assert_invalid_token(call(bearer(alice, [KEYS_READ], now=time.time() - 3600), org, "get"))


def test_it_refuses_a_token_signed_by_a_key_it_does_not_know(team, redis_client):
    org, alice, _ = team
    stranger = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
    _assert_invalid_token(call(bearer(alice, [KEYS_READ], keys=SigningKeys(stranger, ())), org, "get"))


def test_it_refuses_the_token_of_a_deactivated_user(team, redis_client):
    org, alice, _ = team
    token = bearer(alice, [KEYS_READ])
    User.objects.filter(pk=alice.pk).update(is_active=False)
    _assert_invalid_token(call(token, org, "get"))


def test_it_checks_a_token_without_a_query(team, redis_client, django_assert_num_queries):
    _, alice, _ = team
    request = Request(RequestFactory().get("/api/keys/", HTTP_AUTHORIZATION=f"Bearer {bearer(alice, [KEYS_READ])}"))
    with django_assert_num_queries(0):
        result = BearerAuthentication().authenticate(request)
    assert result is not None
    user, claims = result
    assert claims.scopes == {KEYS_READ}
    assert user.pk == alice.pk  # the user row is read when it is needed, not before


def test_it_answers_head_with_the_get_scope_and_an_unknown_method_with_405(team, redis_client):
    org, alice, _ = team
    assert call(bearer(alice, [KEYS_READ]), org, "head").status_code == 200
    refused = call(bearer(alice, [KEYS_WRITE]), org, "head")
    assert refused.status_code == 403 and 'scope="keys:read"' in refused["WWW-Authenticate"]
    assert call(bearer(alice, [KEYS_READ]), org, "put").status_code == 405
