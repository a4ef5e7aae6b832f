"""The OpenAPI document: valid, complete, served with its docs page, and true to the app.

schemathesis generates requests for every operation of /api/schema/ (bounded and
derandomized) and sends them through the WSGI app as alice, with her session and CSRF token:
no answer may be a 5xx, and every answer must match the schema (status documented, body of
the documented shape). No operation is left out: each one is its own test with a fresh alice,
so even logout or deleting an organization cannot spoil the others. A second run sends them
with a Bearer access token of alice's that holds every scope (fewer examples per operation, to
keep it near 30 s on two cores): an operation with a scope must let it through, a session-only
one must refuse it with 403 ``session_required``, and either must answer as documented.

Every operation documents its security: the session cookie, and, unless it is session-only,
``oauth2`` with exactly the scope its view declares.
"""

import re
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from accounts.models import User
from accounts.services import membership_set, organization_create
from llmaas.bearer import access_token_encode, required_scope
from llmaas.scopes import SCOPES, SESSION_ONLY
from llmaas.tests.test_scopes import api_views, implemented


def test_the_schema_is_valid_and_every_endpoint_documented(tmp_path, capsys):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    for path in ("/api/auth/signup", "/api/organization/members/{user_id}", "/api/audit/", "/api/keys/{key_id}/"):
        assert f"  {path}:" in schema
    assert "unable to guess serializer" not in capsys.readouterr().err


def test_the_docs_pages_are_served_without_a_cdn(db):
    client = Client()
    for page in ("/api/docs/", "/api/redoc/"):
        response = client.get(page)
        assert response.status_code == 200
        assert b"/static/drf_spectacular_sidecar/" in response.content
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "LLMaaS control plane API"


def _openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_operation_documents_its_security_and_scope():
    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"]["type"] == "apiKey" and schemes["session"]["in"] == "cookie"
    flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert flow["scopes"] == SCOPES and flow["tokenUrl"].endswith("/o/token/")

    operations = {(path, method.upper()): op for path, ops in document["paths"].items() for method, op in ops.items()}
    checked = 0
    for route, view in api_views().items():
        for method in implemented(view):
            operation = operations.get((_openapi_path(route), method))
            if operation is None:  # not in the document (e.g. the webhook): nothing to check
                continue
            checked += 1
            security = operation.get("security")
            name = f"{method} {_openapi_path(route)}"
            assert security and {"session": []} in security, name
            scope = required_scope(view(), method)
            oauth = [requirement["oauth2"] for requirement in security if "oauth2" in requirement]
            if scope == SESSION_ONLY:
                assert not oauth, f"{name} is session-only but documents oauth2"
                continue
            assert oauth == [[scope]], f"{name}: {oauth} (declared {scope!r})"
            # a token without the scope is refused with 403, a bad token with 401: both documented
            assert {"401", "403"} <= set(operation["responses"]), name
    assert checked == len(operations), "operations of the document that match no API view"


@pytest.fixture
def alice(db, settings, redis_client):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = User.objects.create_user(email="alice@schema.example", password="pw-alice")
    team = organization_create(name="Team", owner=user)
    bob = User.objects.create_user(email="bob@schema.example", password="pw-bob")
    membership_set(organization=team, user=bob, role="member")
    return user


@pytest.fixture
def alice_session(alice):
    """Alice's session cookie and CSRF token, as a browser would send them."""
    client = Client()
    client.force_login(alice)
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": client.cookies["csrftoken"].value}
    return cookies, {"X-CSRFToken": token}


@pytest.fixture
def keep_db_connection(db):
    """Like Django's test client: a request must not close the test's database connection (the
    handler does, at the end of each request, when connections are not persistent)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded at collection (the schema needs no database): one test per operation.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case, alice_session, keep_db_connection):
    cookies, headers = alice_session
    response = case.call_and_validate(
        headers=headers,
        cookies=cookies,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
    # A 401 or a CSRF refusal is documented, so it would pass the checks: make sure alice's
    # session and token really got through (login answers 401 to wrong credentials; after the
    # first logout, this operation's next examples have no session).
    if case.operation.path not in ("/api/auth/login", "/api/auth/logout"):
        assert response.status_code != 401, response.text
    assert "CSRF" not in response.text, response.text


SCOPE_REFUSALS = {"insufficient_scope", "session_required"}


def _alice_token(alice: User) -> str:
    token, _ = access_token_encode(
        keys=django_settings.OIDC_SIGNING_KEYS,
        user_id=str(alice.pk),
        client_id="schemathesis",
        scopes=list(SCOPES),
        lifetime=600,
    )
    return token


@schema.parametrize()
@settings(
    max_examples=3,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_a_bearer_token_as_its_schema_says(case, alice, keep_db_connection):
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {_alice_token(alice)}"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
    takes_tokens = any("oauth2" in requirement for requirement in case.operation.definition.raw.get("security", []))
    assert response.status_code != 401 or case.operation.path == "/api/auth/login", response.text
    if takes_tokens:
        refused = response.status_code == 403 and response.json()["error"]["code"] in SCOPE_REFUSALS
        assert not refused, (case.operation.method, case.operation.path, response.text)
    elif response.status_code == 403:
        assert response.json()["error"]["code"] in {"session_required", "permission_denied"}, response.text
