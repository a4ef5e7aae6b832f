"""The authorization matrix, generated from the URL conf (see authz_spec.py for the rules and
for how to add an endpoint).

It runs twice: with the personas' sessions, and with their OAuth access tokens (Bearer JWTs
holding every scope, so the role alone decides and the expectations are the same). An endpoint
whose view is SESSION_ONLY for the method refuses every token with 403 ``session_required``.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import transaction
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.roles import role_allows
from accounts.tests.authz_spec import EXCLUDED, OUTSIDER, PATH_OBJECTS, PERSONAS, SPEC, Case, World, build_world
from llmaas.bearer import access_token_encode, required_scope
from llmaas.scopes import SCOPES, SESSION_ONLY
from llmaas.tests.urlconf import routes, view_class

ROLES = {"alice": "owner", "bob": "viewer", "dave": "member"}
METHODS = ("get", "post", "put", "patch", "delete")
AUTH_MODES = ("session", "bearer")


def views() -> dict[str, type[APIView]]:
    """The DRF view of each route."""
    return {route: view for route, callback in routes() if (view := view_class(callback)) is not None}


def endpoints() -> dict[str, list[str]]:
    """Every route of the URL conf with the HTTP methods its view answers."""
    found: dict[str, list[str]] = {}
    for route, callback in routes():
        view = view_class(callback)
        # A plain function view ("*"): it must be excluded, or made an APIView.
        methods = ["*"] if view is None else [m.upper() for m in METHODS if hasattr(view, m)]
        found.setdefault(route, []).extend(methods)
    return found


def excluded(route: str) -> bool:
    return route.startswith(tuple(EXCLUDED))


def test_every_endpoint_and_method_is_in_the_spec():
    missing = [
        f"{method} /{route}"
        for route, methods in endpoints().items()
        if not excluded(route)
        for method in methods
        if method not in SPEC.get(route, {})
    ]
    assert not missing, (
        "Endpoints missing from the authorization matrix; add them to accounts/tests/authz_spec.py "
        f"(SPEC) or, if they are not organization-scoped, to EXCLUDED with the reason: {missing}"
    )


def test_the_spec_names_only_real_endpoints():
    real = endpoints()
    stale = [f"{m} /{route}" for route, cases in SPEC.items() for m in cases if m not in real.get(route, [])]
    assert not stale, f"SPEC entries that match no route or method of the URL conf: {stale}"
    assert {p for route in SPEC for p in re.findall(r"<\w+:(\w+)>", route)} <= set(PATH_OBJECTS)


def _path(route: str, world: World) -> str:
    return "/" + re.sub(r"<\w+:(\w+)>", lambda m: PATH_OBJECTS[m.group(1)](world), route)


def _bearer(world: World, persona: str) -> str:
    """An access token of the persona's that holds every scope: only the role limits it."""
    token, _ = access_token_encode(
        keys=settings.OIDC_SIGNING_KEYS,
        user_id=str(world.users[persona].pk),
        client_id="authz-matrix",
        scopes=list(SCOPES),
        lifetime=600,
    )
    return token


def _call(world: World, persona: str, method: str, path: str, case: Case, org=None, mode: str = "session"):
    client = APIClient()
    headers = {}
    if mode == "bearer":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {_bearer(world, persona)}"
    else:
        client.force_authenticate(world.users[persona])
    if org is not None:
        headers["HTTP_LLMAAS_ORGANIZATION"] = str(org.id)
    client.credentials(**headers)
    body = case.body(world) if callable(case.body) else case.body
    return getattr(client, method.lower())(path, body, format="json")


def _in_savepoint(fn):
    """Run one request and roll back what it did: every persona sees the same world."""
    savepoint = transaction.savepoint()
    try:
        return fn()
    finally:
        transaction.savepoint_rollback(savepoint)


def _returned_ids(response, case: Case) -> set[str]:
    assert response.status_code == 200, response.content
    return {str(item[case.id_field]) for item in response.json()["results"]}


CASES = [(route, method) for route, cases in SPEC.items() for method in cases]


def _session_only(world: World, route: str, method: str, path: str, case: Case) -> None:
    """No token calls it, whoever holds it and whatever the organization."""
    org_a = world.org_a if case.scoped else None
    for persona in (*PERSONAS, OUTSIDER):
        response = _in_savepoint(lambda persona=persona: _call(world, persona, method, path, case, org_a, "bearer"))
        assert response.status_code == 403, f"{persona}: {response.content[:300]!r}"
        assert response.json()["error"]["code"] == "session_required"


@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} /{r}" for r, m in CASES])
def test_the_authorization_matrix(db, redis_client, route, method, mode):
    world = build_world()
    case = SPEC[route][method]
    path = _path(route, world)
    org_a = world.org_a if case.scoped else None
    if mode == "bearer" and required_scope(views()[route](), method) == SESSION_ONLY:
        _session_only(world, route, method, path, case)
        return

    def call(persona: str, org=None):
        return _call(world, persona, method, path, case, org, mode)

    for persona in PERSONAS:
        allowed = case.action is None or role_allows(ROLES[persona], case.action)
        expected = case.expect.get(persona, case.ok if allowed else 403)
        response = _in_savepoint(lambda persona=persona: call(persona, org_a))
        assert response.status_code == expected, f"{persona} ({ROLES[persona]}): {response.content[:300]!r}"
        if expected == 403:
            assert response.json()["error"]["code"] in {"permission_denied", "not_key_creator"}
        if case.lists and expected == 200:
            shown = _returned_ids(response, case)
            assert not shown & world.ids[case.lists]["B"], f"{persona} sees org B's {case.lists}s"

    if not case.scoped:
        shown = _returned_ids(call(OUTSIDER), case) if case.lists else set()
        assert not shown & world.ids.get(case.lists or "", {}).get("A", set()), "charlie sees org A's objects"
        return
    # The outsider, asking in org A: the organization does not exist for him.
    response = _in_savepoint(lambda: call(OUTSIDER, world.org_a))
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "organization_not_found"
    # The outsider, asking in his own org B about an org A object: it does not exist there either.
    if "<" in route:
        response = _in_savepoint(lambda: call(OUTSIDER, world.org_b))
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"].endswith("_not_found")
    # And his lists in org B show nothing of org A.
    if case.lists:
        shown = _returned_ids(call(OUTSIDER, world.org_b), case)
        assert shown and not shown & world.ids[case.lists]["A"], f"charlie sees org A's {case.lists}s"
