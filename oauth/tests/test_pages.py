"""The authorization server's own pages keep the account rules: the log-in form is throttled
like the API (429 with Retry-After), sign-up creates a pending account and mails a link, bad
input is a 400 that says what is wrong, and `next` never leads off-site."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_redis(redis_client):
    yield


def form_post(path: str, data: dict[str, str], ip: str = "198.51.100.20"):
    client = Client(enforce_csrf_checks=True, HTTP_X_REAL_IP=ip)
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, page.content[:300]
    return client, client.post(path, {**data, "csrfmiddlewaretoken": token.group(1)})


def test_it_logs_in_and_goes_to_a_local_next_only(make_user):
    alice = make_user("alice")
    client, answer = form_post(
        "/o/login?next=/o/authorize/%3Fclient_id%3Dx", {"email": alice.email, "password": "pw-alice"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/o/authorize/?client_id=x"
    assert client.session["_auth_user_id"] == str(alice.pk)
    _, offsite = form_post("/o/login?next=https://evil.example/steal", {"email": alice.email, "password": "pw-alice"})
    assert offsite.status_code == 302 and offsite["Location"] == "/"


def test_the_login_form_is_throttled_like_the_api(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    alice = make_user("alice")
    for _ in range(2):
        _, wrong = form_post("/o/login", {"email": alice.email, "password": "wrong"}, ip="198.51.100.21")
        assert wrong.status_code == 401 and b"Wrong email or password" in wrong.content
    _, locked = form_post("/o/login", {"email": alice.email, "password": "pw-alice"}, ip="198.51.100.21")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert b"Too many failed sign-ins" in locked.content


def test_bad_input_is_a_400_that_names_the_field():
    _, answer = form_post("/o/login", {"email": "not-an-address", "password": ""})
    assert answer.status_code == 400
    assert b"Enter a valid email address" in answer.content


def test_signup_creates_a_pending_account_and_mails_a_link(settings, django_capture_on_commit_callbacks):
    settings.ALLOWED_DOMAINS = []
    with django_capture_on_commit_callbacks(execute=True):
        _, answer = form_post(
            "/o/signup", {"name": "Erin", "email": "erin@example.com", "password": "a-long-passphrase-9"}
        )
    assert answer.status_code == 202
    assert b"Check your mailbox" in answer.content
    user = User.objects.get(email="erin@example.com")
    assert user.account_status == "pending_approval"
    assert len(mail.outbox) == 1


def test_signup_refuses_a_weak_password_and_says_why():
    _, answer = form_post("/o/signup", {"email": "frank@example.com", "password": "123"})
    assert answer.status_code == 400
    assert not User.objects.filter(email="frank@example.com").exists()
    assert b"too short" in answer.content


def test_signup_closed_is_a_403(settings):
    settings.SIGNUP_ENABLED = False
    _, answer = form_post("/o/signup", {"email": "gina@example.com", "password": "a-long-passphrase-9"})
    assert answer.status_code == 403
    assert b"Sign-up is closed" in answer.content
