""" "Sign in with LLMaaS" keys with Django's test client: the consent page's choice (organization,
models, budget) is checked on the server; the key is issued once, at the code's exchange, into the
token response; never on a refresh; its secret is stored nowhere; revoking the app's keys."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from oauth2_provider.models import AccessToken, Application, Grant

from accounts.models import Organization
from accounts.services import membership_set, organization_create
from inference.proxy.contract import hash_secret
from keys.models import ApiKey
from llmaas.limits import BudgetPeriod
from oauth.inference_keys import app_keys_revoke
from oauth.models import InferenceKeyRequest
from oauth.tests.pkce import Pkce, query_of

pytestmark = pytest.mark.django_db

REDIRECT = "http://127.0.0.1:9999/callback"
SCOPE = "openid inference"


@pytest.fixture
def app(make_user) -> Application:
    return Application.objects.create(
        name="Notebook",
        client_id=f"notebook-{uuid.uuid4().hex[:6]}",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        algorithm=Application.RS256_ALGORITHM,
        user=make_user("appowner"),
    )


@pytest.fixture
def alice(make_user, catalog):
    return make_user("alice")


def personal(user) -> Organization:
    return Organization.objects.get(personal_for=user)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def consent(client: Client, app: Application, pkce: Pkce, scope: str = SCOPE, **choice: object):
    """The consent page (GET), then its form posted with ``choice`` (organization, models, budget_usd)."""
    params = pkce.authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope=scope)
    page = client.get("/o/authorize/", params)
    assert page.status_code == 200, page.content[:500]
    return page, client.post("/o/authorize/", {**params, "allow": "Authorize", **choice})


def code_of(answer) -> str:
    assert answer.status_code == 302, answer.content.decode()[:1000]
    return query_of(answer["Location"])["code"]


def exchange(app: Application, pkce: Pkce, code: str):
    return Client().post("/o/token/", pkce.token_params(code=code, client_id=app.client_id, redirect_uri=REDIRECT))


def good_choice(user, **overrides: object) -> dict[str, object]:
    return {"organization": str(personal(user).pk), "models": ["smollm2"], "budget_usd": "0.01", **overrides}


def test_it_issues_the_key_once_at_the_code_exchange_and_never_on_refresh(app, alice):
    pkce = Pkce()
    page, answer = consent(browser(alice), app, pkce, **good_choice(alice))
    assert b'name="budget_usd"' in page.content and b'value="smollm2"' in page.content
    code = code_of(answer)
    assert ApiKey.objects.count() == 0  # nothing before the exchange

    token = exchange(app, pkce, code)
    assert token.status_code == 200, token.content
    body = token.json()
    secret = body["llmaas_api_key"]
    assert secret.startswith("sk-") and body["access_token"]
    key = ApiKey.objects.get(pk=body["llmaas_api_key_id"])
    assert key.secret_hash == hash_secret(secret)
    assert key.oauth_application == app and key.created_by == alice and key.organization == personal(alice)
    assert key.allowed_models == ["smollm2"]
    assert key.budget_usd == Decimal("0.01") and key.budget_period == BudgetPeriod.LIFETIME
    assert key.name == "Notebook (Sign in with LLMaaS)"
    assert not InferenceKeyRequest.objects.exists() and not Grant.objects.exists()
    assert token["Cache-Control"] == "no-store"

    # The secret is in no row of any table.
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', [f"%{secret}%"])
            assert cursor.fetchone() == (0,), table

    assert exchange(app, pkce, code).status_code == 400  # the code works once
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id}
    refreshed = Client().post("/o/token/", refresh)
    assert refreshed.status_code == 200, refreshed.content
    assert "llmaas_api_key" not in refreshed.json() and "llmaas_api_key_id" not in refreshed.json()
    assert ApiKey.objects.count() == 1

    # Listed among the user's keys, as the app's.
    listed = browser(alice).get("/api/keys/").json()["results"]
    assert [k["app"] for k in listed] == [{"client_id": app.client_id, "name": "Notebook"}]


def test_an_ordinary_key_has_no_app(alice, api):
    created = api(alice).post("/api/keys/", {"name": "plain"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["app"] is None


def test_without_the_inference_scope_nothing_changes(app, alice):
    pkce = Pkce()
    page, answer = consent(browser(alice), app, pkce, scope="openid profile")
    assert b"budget_usd" not in page.content
    token = exchange(app, pkce, code_of(answer))
    assert token.status_code == 200
    assert "llmaas_api_key" not in token.json()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"organization": str(uuid.uuid4())}, "Choose one of your organizations."),
        ({"organization": "not-an-id"}, "Choose one of your organizations."),
        ({"organization": ""}, "Choose one of your organizations."),
        ({"models": []}, "Choose at least one model."),
        ({"models": ["no-such-model"]}, "not one of the available choices"),
        ({"budget_usd": "0"}, "The budget must be more than $0"),
        ({"budget_usd": "-1"}, "The budget must be more than $0"),
        ({"budget_usd": "1000000"}, "at most $10000"),
        ({"budget_usd": "NaN"}, "Enter a number."),
        ({"budget_usd": ""}, "Set a budget in USD."),
    ],
)
def test_the_consent_is_checked_on_the_server(app, alice, overrides, message):
    _, answer = consent(browser(alice), app, Pkce(), **good_choice(alice, **overrides))
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert b"Notebook wants to access your LLMaaS account" in answer.content  # the page again, not a bare form
    assert not Grant.objects.exists() and not InferenceKeyRequest.objects.exists()


def test_an_organization_that_does_not_allow_a_model_refuses_it(app, alice):
    org = organization_create(name="Acme", owner=alice)
    org.allowed_models = ["smollm2"]
    org.save(update_fields=["allowed_models"])
    _, answer = consent(browser(alice), app, Pkce(), **good_choice(alice, organization=str(org.pk), models=["tiny"]))
    assert answer.status_code == 400
    assert "Acme may not use: tiny." in answer.content.decode()
    _, answer = consent(browser(alice), app, Pkce(), **good_choice(alice, organization=str(org.pk)))
    assert InferenceKeyRequest.objects.get(grant__code=code_of(answer)).organization == org


def test_a_role_without_key_create_cannot_pick_that_organization(app, alice, make_user):
    bob = make_user("bob")
    org = organization_create(name="Acme", owner=alice)
    membership_set(organization=org, user=bob, role="viewer")
    page, answer = consent(browser(bob), app, Pkce(), **good_choice(bob, organization=str(org.pk)))
    text = page.content.decode()
    assert f'<option value="{org.pk}"' not in text and f'<option value="{personal(bob).pk}"' in text
    assert "Acme: Your role here (viewer) does not allow creating keys." in text
    assert answer.status_code == 400
    assert "Your role here (viewer) does not allow creating keys." in answer.content.decode()
    assert not Grant.objects.exists()


def test_a_pending_account_is_told_why_and_refused(app, catalog, make_user):
    from accounts.models import User

    carol = User.objects.create_user(email=f"carol-{uuid.uuid4().hex[:6]}@example.com", password="pw", approved=False)
    page, answer = consent(browser(carol), app, Pkce(), **good_choice(carol))
    text = page.content.decode()
    assert "You cannot give Notebook an API key" in text and "waiting for an operator" in text
    assert 'value="Authorize"' not in text  # only Cancel
    assert answer.status_code == 400 and "waiting for an operator" in answer.content.decode()
    assert not Grant.objects.exists()


def test_cancel_needs_no_choice(app, alice):
    params = Pkce().authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope=SCOPE)
    answer = browser(alice).post("/o/authorize/", {**params, "cancel": "Cancel"})
    assert answer.status_code == 302
    assert query_of(answer["Location"])["error"] == "access_denied"


def test_an_app_that_skips_consent_still_asks_for_the_key(app, alice):
    app.skip_authorization = True
    app.save(update_fields=["skip_authorization"])
    pkce = Pkce()
    without = pkce.authorize_params(client_id=app.client_id, redirect_uri=REDIRECT, scope="openid")
    assert browser(alice).get("/o/authorize/", without).status_code == 302  # no page for other scopes
    page, answer = consent(browser(alice), app, pkce, **good_choice(alice))
    assert b'name="budget_usd"' in page.content
    assert "llmaas_api_key" in exchange(app, pkce, code_of(answer)).json()


def test_when_the_key_cannot_be_issued_the_token_request_fails_whole(app, alice):
    org = organization_create(name="Acme", owner=alice)
    bob_choice = good_choice(alice, organization=str(org.pk))
    pkce = Pkce()
    _, answer = consent(browser(alice), app, pkce, **bob_choice)
    code = code_of(answer)
    membership_set(organization=org, user=alice, role="viewer")  # demoted before the exchange

    token = exchange(app, pkce, code)
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_grant"
    assert "does not allow creating keys" in token.json()["error_description"]
    assert not ApiKey.objects.exists() and not AccessToken.objects.exists()
    assert InferenceKeyRequest.objects.filter(grant__code=code).exists()  # rolled back, nothing consumed


def test_app_keys_revoke_revokes_that_users_keys_of_that_app(app, alice, make_user, django_capture_on_commit_callbacks):
    keys = []
    for _ in range(2):
        pkce = Pkce()
        _, answer = consent(browser(alice), app, pkce, **good_choice(alice))
        keys.append(exchange(app, pkce, code_of(answer)).json()["llmaas_api_key_id"])
    other = browser(alice).post("/api/keys/", {"name": "mine"}, content_type="application/json").json()["id"]

    with django_capture_on_commit_callbacks() as callbacks:
        assert app_keys_revoke(user=alice, application=app, actor=alice) == 2
    assert callbacks  # published after the commit
    assert set(ApiKey.objects.filter(revoked_at__isnull=False).values_list("id", flat=True)) == {
        uuid.UUID(k) for k in keys
    }
    assert ApiKey.objects.get(pk=other).revoked_at is None
    assert app_keys_revoke(user=alice, application=app, actor=alice) == 0


@pytest.mark.django_db(transaction=True)
def test_two_exchanges_of_one_code_at_once_issue_one_key(app, alice):
    """Both exchanges pass DOT's checks, then wait on the code's row (held here); once it is
    released, one issues the key and consumes the code, the other finds it gone."""
    pkce = Pkce()
    _, answer = consent(browser(alice), app, pkce, **good_choice(alice))
    code = code_of(answer)
    results: list[int] = []

    def exchange_in_thread() -> None:
        try:
            results.append(exchange(app, pkce, code).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=exchange_in_thread) for _ in range(2)]
    with transaction.atomic():
        Grant.objects.select_for_update().get(code=code)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone() == (2,):
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the exchanges did not both reach the code's lock")
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [200, 400]
    assert ApiKey.objects.count() == 1 and AccessToken.objects.count() == 1
