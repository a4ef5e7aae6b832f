"""Sign-in: sessions, throttling of repeated failures (Redis), the client IP, the audit trail."""

import logging
import threading
import time

import redis as redis_lib
from django.db import connection
from rest_framework.test import APIClient

from accounts import throttle, user_services
from accounts.tests.conftest import unique_email
from audit.models import AuditAction, AuditEvent


def attempt(email: str, password: str, ip: str = "198.51.100.1", **headers):
    client = APIClient(HTTP_X_REAL_IP=ip, HTTP_USER_AGENT="pytest-agent/1.0", **headers)
    return client.post("/api/auth/login", {"email": email, "password": password}, format="json")


def test_it_never_locks_the_owner_out_from_a_clean_ip_whatever_others_tried(make_user, settings):
    """Anyone who knows alice's address can fail as often as they like: alice, with her
    password, from an address that did not fail, still gets in (issue 14, item 9)."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    alice = make_user("alice")
    for _ in range(3):
        assert attempt(alice.email, "wrong", ip="198.51.100.1").status_code == 401
    for password in ("wrong", "pw-alice"):  # the failing address waits, even with the right password
        refused = attempt(alice.email, password, ip="198.51.100.1")
        assert refused.status_code == 429, refused.content
        error = refused.json()["error"]
        assert error["code"] == "too_many_attempts" and error["details"]["retry_after"] > 0
        assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW
    assert attempt(alice.email, "wrong", ip="198.51.100.2").status_code == 401  # a clean address: checked
    assert attempt(alice.email, "pw-alice", ip="198.51.100.2").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_LOCKED, target_id=str(alice.pk)).count() == 1
    # Not counted while refused: the trail holds the real failures.
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED, target_id=str(alice.pk)).count() == 4


def test_it_refuses_a_client_ip_that_failed_too_often_whatever_the_account(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.LOGIN_FAILURES_PER_ACCOUNT = 100
    alice, bob = make_user("alice"), make_user("bob")
    for _ in range(5):
        assert attempt(alice.email, "guess", ip="203.0.113.7").status_code == 401
    for user, password in ((alice, "pw-alice"), (bob, "pw-bob"), (bob, "guess")):
        assert attempt(user.email, password, ip="203.0.113.7").status_code == 429
    assert attempt(alice.email, "pw-alice", ip="203.0.113.8").status_code == 200


def test_it_locks_a_client_ip_that_tries_many_accounts(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 4
    alice = make_user("alice")
    for _ in range(4):
        assert attempt(unique_email(), "guess", ip="203.0.113.9").status_code == 401
    assert attempt(alice.email, "pw-alice", ip="203.0.113.9").status_code == 429
    assert attempt(alice.email, "pw-alice", ip="203.0.113.10").status_code == 200


def test_a_success_does_not_unlock_the_client_ip(make_user, settings):
    """An attacker who logs in to an account of their own between guesses gains nothing."""
    settings.LOGIN_FAILURES_PER_IP = 4
    mallory, alice = make_user("mallory"), make_user("alice")
    for _ in range(3):
        assert attempt(alice.email, "guess", ip="203.0.113.9").status_code == 401
    assert attempt(mallory.email, "pw-mallory", ip="203.0.113.9").status_code == 200
    assert attempt(unique_email(), "guess", ip="203.0.113.9").status_code == 401
    assert attempt(mallory.email, "pw-mallory", ip="203.0.113.9").status_code == 429


def test_a_success_resets_the_accounts_own_count(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    alice = make_user("alice")
    for _ in range(2):
        attempt(alice.email, "typo")
    assert attempt(alice.email, "pw-alice").status_code == 200
    for _ in range(2):
        attempt(alice.email, "typo")
    assert attempt(alice.email, "pw-alice").status_code == 200


def test_forwarded_headers_count_only_from_a_trusted_proxy(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    settings.LOGIN_FAILURES_PER_ACCOUNT = 100
    alice = make_user("alice")
    settings.TRUSTED_PROXIES = []  # the test client's peer (127.0.0.1) is not a proxy of ours
    for n in range(3):  # a different X-Real-IP each time does not dodge the per-IP count
        assert attempt(unique_email(), "guess", ip=f"192.0.2.{n}").status_code == 401
    assert attempt(alice.email, "pw-alice", ip="192.0.2.200").status_code == 429
    failed = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).first()
    assert failed is not None and failed.ip == "127.0.0.1"

    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert attempt(alice.email, "pw-alice", ip="192.0.2.201").status_code == 200
    # X-Forwarded-For: the right-most address our proxy did not add; the left part is the client's say.
    via = attempt(alice.email, "pw-alice", ip="", HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.202")
    assert via.status_code == 200
    signed_in = AuditEvent.objects.filter(action=AuditAction.SIGN_IN).order_by("-id").first()
    assert signed_in is not None and signed_in.ip == "192.0.2.202"


def test_sign_ins_are_audited_with_ip_and_user_agent_never_the_password(make_user):
    alice = make_user("alice")
    attempt(alice.email, "not-her-password-123")
    attempt(alice.email, "pw-alice")
    failed = AuditEvent.objects.get(action=AuditAction.SIGN_IN_FAILED)
    assert failed.actor_id is None and failed.target_id == str(alice.pk)
    assert (failed.ip, failed.user_agent, failed.details) == (
        "198.51.100.1",
        "pytest-agent/1.0",
        {"email": alice.email},
    )
    signed_in = AuditEvent.objects.get(action=AuditAction.SIGN_IN)
    assert signed_in.actor_id == alice.pk and signed_in.org_id is None
    every = str(list(AuditEvent.objects.values()))
    assert "not-her-password-123" not in every and "pw-alice" not in every


def test_logging_out_ends_the_session(make_user):
    alice = make_user("alice")
    client = APIClient(enforce_csrf_checks=True)
    client.post("/api/auth/login", {"email": alice.email, "password": "pw-alice"}, format="json")
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    assert client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_OUT, actor_id=alice.pk).exists()


def test_a_deactivated_account_cannot_log_in_and_its_sessions_end(make_user):
    alice = make_user("alice")
    client = APIClient()
    client.post("/api/auth/login", {"email": alice.email, "password": "pw-alice"}, format="json")
    assert client.get("/api/auth/me").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert client.get("/api/auth/me").status_code == 401
    refused = attempt(alice.email, "pw-alice")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_credentials"


def test_sign_in_fails_closed_when_redis_is_unreachable(make_user, monkeypatch):
    alice = make_user("alice")
    nowhere = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens there
    monkeypatch.setattr(throttle, "redis_client", lambda: nowhere)
    response = attempt(alice.email, "pw-alice")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "throttle_unavailable" and response["Retry-After"]


def test_it_slows_an_account_under_attack_to_one_guess_per_address(make_user, settings):
    """Guessing from many addresses: past LOGIN_ACCOUNT_SLOWDOWN_AFTER failures on the account,
    an address that failed on it once is refused, whatever its own limit; a clean address is
    still checked, and the owner's right password from one gets in (issue 14, item 9)."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_ACCOUNT_SLOWDOWN_AFTER = 4
    alice = make_user("alice")
    assert attempt(alice.email, "guess", ip="198.51.100.10").status_code == 401
    assert attempt(alice.email, "guess", ip="198.51.100.10").status_code == 401  # not slowed yet: 2 of 5
    for n in (11, 12):
        assert attempt(alice.email, "guess", ip=f"198.51.100.{n}").status_code == 401
    for password in ("guess", "pw-alice"):  # 4 on the account: an address that failed waits
        refused = attempt(alice.email, password, ip="198.51.100.11")
        assert refused.status_code == 429, refused.content
        assert refused.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW
    assert attempt(alice.email, "guess", ip="198.51.100.13").status_code == 401  # a clean one: one guess
    assert attempt(alice.email, "guess", ip="198.51.100.13").status_code == 429
    assert attempt(alice.email, "pw-alice", ip="198.51.100.14").status_code == 200  # the owner, clean
    locked = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_LOCKED, target_id=str(alice.pk))
    assert [event.details["scopes"] for event in locked] == [["login:account"]]


def test_it_counts_an_ipv6_client_by_its_64(make_user, settings):
    """One host holds a whole /64: a new address in it is not a new client."""
    settings.LOGIN_FAILURES_PER_IP = 3
    alice = make_user("alice")
    for n in range(1, 4):
        assert attempt(unique_email(), "guess", ip=f"2001:db8:1:2::{n}").status_code == 401
    assert attempt(alice.email, "pw-alice", ip="2001:db8:1:2:ffff:1:2:3").status_code == 429
    assert attempt(alice.email, "pw-alice", ip="2001:db8:1:3::1").status_code == 200


def test_it_counts_an_ipv4_mapped_address_as_its_ipv4_address(make_user, settings):
    """A dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d: the same client, and not one
    /64 shared by every IPv4 client."""
    settings.LOGIN_FAILURES_PER_IP = 3
    alice = make_user("alice")
    for _ in range(3):
        assert attempt(unique_email(), "guess", ip="::ffff:203.0.113.20").status_code == 401
    assert attempt(alice.email, "pw-alice", ip="203.0.113.20").status_code == 429
    assert attempt(alice.email, "pw-alice", ip="::ffff:203.0.113.21").status_code == 200


def test_it_admits_no_more_parallel_guesses_than_the_limit(make_user, settings, transactional_db, monkeypatch):
    """Parallel requests from one address: each takes its place in the count before its password
    is checked, so no more than the limit are checked, however many arrive at once."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    alice = make_user("alice")
    real_authenticate = user_services.authenticate

    def slow_authenticate(*args, **kwargs):  # a production hash takes this long
        time.sleep(0.3)
        return real_authenticate(*args, **kwargs)

    monkeypatch.setattr(user_services, "authenticate", slow_authenticate)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def guess() -> None:
        try:
            barrier.wait()
            statuses.append(attempt(alice.email, "guess", ip="203.0.113.30").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 3 + [429] * 7
    assert attempt(alice.email, "pw-alice", ip="203.0.113.31").status_code == 200


def test_it_never_counts_a_success_against_the_address(make_user, settings):
    """The place a sign-in takes before its password is checked is given back when it succeeds:
    an office behind one address signs in as often as it likes."""
    settings.LOGIN_FAILURES_PER_IP = 3
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_ACCOUNT_SLOWDOWN_AFTER = 3
    alice = make_user("alice")
    for _ in range(5):
        assert attempt(alice.email, "pw-alice", ip="203.0.113.40").status_code == 200
    for _ in range(2):
        assert attempt(alice.email, "typo", ip="203.0.113.40").status_code == 401
    assert attempt(alice.email, "pw-alice", ip="203.0.113.40").status_code == 200


def test_it_counts_clients_without_an_address_as_one_address_of_their_own(make_user, settings, caplog):
    """No usable peer address: such clients share one bucket, "unknown", limited like an
    address (per account and on any accounts) and logged; the account is not locked for the
    clients whose address is known."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.TRUSTED_PROXIES = []
    alice = make_user("alice")
    with caplog.at_level(logging.WARNING, logger="accounts.throttle"):
        for _ in range(3):
            assert attempt(alice.email, "guess", REMOTE_ADDR="").status_code == 401
        assert attempt(alice.email, "pw-alice", REMOTE_ADDR="not-an-ip").status_code == 429
        for _ in range(2):
            assert attempt(unique_email(), "guess", REMOTE_ADDR="").status_code == 401
        assert attempt(unique_email(), "guess", REMOTE_ADDR="").status_code == 429  # 5 on any accounts
    assert any("unknown" in record.getMessage() for record in caplog.records)
    assert attempt(alice.email, "pw-alice", REMOTE_ADDR="198.51.100.50").status_code == 200
