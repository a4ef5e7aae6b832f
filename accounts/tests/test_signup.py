"""Sign-up with approval, email verification, password reset and change, profile."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AccountToken, User
from accounts.tests.conftest import session_client, unique_email
from audit.models import AuditAction, AuditEvent
from llmaas.bearer import access_token_encode


def sign_up(committed, email: str, password: str = "a fine passphrase", **extra):
    with committed():
        return APIClient().post("/api/auth/signup", {"email": email, "password": password, **extra}, format="json")


def token_in(message) -> str:
    match = re.search(r"token=([\w-]+)", message.body)
    assert match, message.body
    return match.group(1)


def login(email: str, password: str = "a fine passphrase") -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_X_CSRFTOKEN=client.get("/api/auth/csrf").json()["csrf_token"])
    return client


def verify(committed, token: str):
    with committed():
        return APIClient().post("/api/auth/verify-email", {"token": token}, format="json")


def test_it_approves_a_sign_up_from_an_allowed_domain_at_once(db, settings, committed, catalog):
    settings.ALLOWED_DOMAINS = ["acme.test"]
    email = unique_email("acme.test")
    response = sign_up(committed, email.upper(), name="Alice")
    assert response.status_code == 202, response.content

    user = User.objects.get(email=email)
    assert user.is_approved and user.approved_by is None and not user.email_verified
    client = login(email)
    me = client.get("/api/auth/me").json()
    assert (me["approved"], me["email_verified"], me["status"]) == (True, False, "pending_verification")
    assert me["name"] == "Alice" and [o["personal"] for o in me["organizations"]] == [True]
    # Keys need the address proved: the link is what shows the sign-up really is at acme.test.
    refused = client.post("/api/keys/", {"name": "k"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_not_verified"

    [message] = mail.outbox
    assert message.to == [email] and "/verify-email?token=" in message.body
    assert verify(committed, token_in(message)).json() == {"email_verified": True}
    assert client.get("/api/auth/me").json()["status"] == "active"
    assert client.post("/api/keys/", {"name": "k"}, format="json").status_code == 201


def test_without_required_verification_an_allowed_domain_sign_up_creates_keys_at_once(db, settings, committed, catalog):
    settings.ALLOWED_DOMAINS, settings.REQUIRE_VERIFIED_EMAIL = ["acme.test"], False
    email = unique_email("acme.test")
    assert sign_up(committed, email).status_code == 202
    client = login(email)
    assert client.get("/api/auth/me").json()["status"] == "active"
    assert client.post("/api/keys/", {"name": "k"}, format="json").status_code == 201


def approve_in_admin(user: User, operator: User) -> None:
    admin = Client()
    admin.force_login(operator)
    response = admin.post(
        "/admin/accounts/user/", {"action": "approve_users", "_selected_action": [str(user.pk)], "index": 0}
    )
    assert response.status_code == 302, response.content


def test_a_sign_up_from_another_domain_is_pending_until_an_operator_approves_it(db, settings, committed, catalog):
    settings.ALLOWED_DOMAINS = ["acme.test"]
    operator = User.objects.create_superuser(email=unique_email(), password="pw-op")
    email = unique_email("elsewhere.test")
    assert sign_up(committed, email).status_code == 202
    assert verify(committed, token_in(mail.outbox[0])).status_code == 200

    client = login(email)  # a pending account may log in and see that it is pending
    me = client.get("/api/auth/me").json()
    assert (me["status"], me["approved"], me["email_verified"]) == ("pending_approval", False, True)
    for response in (
        client.post("/api/keys/", {"name": "k"}, format="json"),
        client.post("/api/organizations/", {"name": "Team"}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "account_pending_approval"

    approve_in_admin(User.objects.get(email=email), operator)
    user = User.objects.get(email=email)
    assert user.approved_by == operator
    assert client.get("/api/auth/me").json()["status"] == "active"
    assert client.post("/api/keys/", {"name": "k"}, format="json").status_code == 201
    approved = AuditEvent.objects.get(action=AuditAction.USER_APPROVED, target_id=str(user.pk))
    assert approved.actor_id == operator.pk


def test_signing_up_again_reveals_nothing_and_changes_nothing(make_user, committed):
    alice = make_user("alice")
    first = sign_up(committed, unique_email())
    again = sign_up(committed, alice.email, password="another fine passphrase")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    alice.refresh_from_db()
    assert alice.check_password("pw-alice") and not alice.check_password("another fine passphrase")
    told = mail.outbox[-1]
    assert told.to == [alice.email] and "already has an LLMaaS account" in told.body
    assert "token=" not in told.body
    assert User.objects.filter(email=alice.email).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "a fine passphrase"}, "email"),
        ({"email": "x@example.com", "password": "123"}, "password"),
        ({"email": "x@example.com", "password": "password"}, "password"),
        ({"email": "x@example.com"}, "password"),
        ({"password": "a fine passphrase"}, "email"),
    ],
)
def test_sign_up_refuses_bad_input_with_the_field_named(db, committed, body, field):
    with committed():
        response = APIClient().post("/api/auth/signup", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["details"]
    assert not mail.outbox and not User.objects.exists()


def test_a_mail_server_that_is_down_does_not_fail_the_sign_up(db, settings, committed):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens there
    email = unique_email()
    response = sign_up(committed, email)
    assert response.status_code == 202, response.content
    assert User.objects.filter(email=email).exists()


def test_sign_up_can_be_closed(db, settings, committed):
    settings.SIGNUP_ENABLED = False
    response = sign_up(committed, unique_email())
    assert response.status_code == 403 and response.json()["error"]["code"] == "signup_disabled"
    assert not User.objects.exists()


def test_a_verification_link_works_once_expires_and_a_new_one_replaces_it(db, committed):
    email = unique_email()
    sign_up(committed, email)
    first = token_in(mail.outbox[0])
    client = login(email)
    with committed():
        assert client.post("/api/auth/verify-email/resend").status_code == 202
    second = token_in(mail.outbox[1])

    replaced = verify(committed, first)
    assert replaced.status_code == 400 and replaced.json()["error"]["code"] == "token_used"
    AccountToken.objects.filter(token_hash__isnull=False).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = verify(committed, second)
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"
    AccountToken.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    assert verify(committed, second).status_code == 200
    reused = verify(committed, second)
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "token_used"
    garbage = verify(committed, "x" * 43)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "token_invalid"
    done = client.post("/api/auth/verify-email/resend")
    assert done.status_code == 409 and done.json()["error"]["code"] == "email_already_verified"
    # Only hashes are stored.
    assert not AccountToken.objects.filter(token_hash__in=[first, second]).exists()


def test_mails_on_request_are_limited_per_address(db, settings, committed):
    settings.EMAIL_REQUESTS_PER_ADDRESS = 2
    email = unique_email()
    for _ in range(2):
        assert sign_up(committed, email).status_code == 202
    refused = sign_up(committed, email)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_mails"
    assert int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 2


def reset(committed, email: str):
    with committed():
        return APIClient().post("/api/auth/password-reset", {"email": email}, format="json")


def confirm(committed, token: str, password: str):
    with committed():
        return APIClient().post(
            "/api/auth/password-reset/confirm", {"token": token, "password": password}, format="json"
        )


def test_a_password_reset_answers_the_same_for_unknown_addresses(make_user, committed):
    alice = make_user("alice")
    known, unknown = reset(committed, alice.email), reset(committed, unique_email())
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (202, known.json())
    assert [m.to for m in mail.outbox] == [[alice.email]]


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(make_user, committed):
    alice = make_user("alice")
    old_session = session_client(alice)
    reset(committed, alice.email)
    token = token_in(mail.outbox[0])

    weak = confirm(committed, token, "123")
    assert weak.status_code == 400 and "password" in weak.json()["error"]["details"]
    assert confirm(committed, token, "a brand new passphrase").status_code == 204  # the weak try did not burn it
    assert old_session.get("/api/auth/me").status_code == 401
    assert login(alice.email, "a brand new passphrase").get("/api/auth/me").status_code == 200
    reused = confirm(committed, token, "yet another passphrase")
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "token_used"
    actions = set(AuditEvent.objects.filter(target_id=str(alice.pk)).values_list("action", flat=True))
    assert {AuditAction.PASSWORD_RESET_REQUESTED, AuditAction.PASSWORD_RESET} <= actions


def test_an_expired_reset_link_is_refused(make_user, committed):
    alice = make_user("alice")
    reset(committed, alice.email)
    AccountToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = confirm(committed, token_in(mail.outbox[0]), "a brand new passphrase")
    assert response.status_code == 400 and response.json()["error"]["code"] == "token_expired"
    alice.refresh_from_db()
    assert alice.check_password("pw-alice")


def test_a_deactivated_account_gets_no_reset_mail_and_its_links_stop(make_user, committed):
    alice = make_user("alice")
    reset(committed, alice.email)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert reset(committed, alice.email).status_code == 202
    assert len(mail.outbox) == 1
    response = confirm(committed, token_in(mail.outbox[0]), "a brand new passphrase")
    assert response.status_code == 400 and response.json()["error"]["code"] == "token_invalid"


def test_changing_ones_password_keeps_this_session_and_ends_the_others(make_user):
    alice = make_user("alice")
    here, elsewhere = session_client(alice), session_client(alice)
    wrong = here.post(
        "/api/auth/password", {"current_password": "nope", "new_password": "a brand new passphrase"}, format="json"
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    response = here.post(
        "/api/auth/password", {"current_password": "pw-alice", "new_password": "a brand new passphrase"}, format="json"
    )
    assert response.status_code == 204, response.content
    assert here.get("/api/auth/me").status_code == 200
    assert elsewhere.get("/api/auth/me").status_code == 401
    weak = here.post(
        "/api/auth/password", {"current_password": "a brand new passphrase", "new_password": "1"}, format="json"
    )
    assert weak.status_code == 400 and "password" in weak.json()["error"]["details"]


def test_a_profile_change_is_kept_and_validated(make_user):
    client = session_client(make_user("alice"))
    response = client.patch("/api/auth/me", {"name": "Alice A."}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Alice A."
    too_long = client.patch("/api/auth/me", {"name": "x" * 151}, format="json")
    assert too_long.status_code == 400 and "name" in too_long.json()["error"]["details"]
    assert client.get("/api/auth/me").json()["name"] == "Alice A."


def test_me_and_account_writes_need_a_session(db):
    for method, path in (("get", "/api/auth/me"), ("post", "/api/auth/password"), ("post", "/api/auth/logout")):
        response = getattr(APIClient(), method)(path, {}, format="json")
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_the_portal_can_resend_the_link_with_a_profile_token(db, committed):
    email = unique_email()
    sign_up(committed, email)
    user = User.objects.get(email=email)

    def with_scopes(*scopes: str) -> APIClient:
        token, _ = access_token_encode(
            keys=settings.OIDC_SIGNING_KEYS, user_id=str(user.pk), client_id="portal", scopes=list(scopes), lifetime=60
        )
        return APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")

    refused = with_scopes("openid").post("/api/auth/verify-email/resend")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    with committed():
        assert with_scopes("openid", "profile").post("/api/auth/verify-email/resend").status_code == 202
    assert len(mail.outbox) == 2
