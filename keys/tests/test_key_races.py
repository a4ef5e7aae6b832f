"""A revocation or a rotation is never undone by a concurrent change of the same key (issue 14,
item 5): two real threads, each with its own PostgreSQL connection, interleaved at the API.

The PATCH reads the key (as every view does, before its service runs), then waits until the
revocation or rotation has committed, then writes: a write of the instance it read earlier
would put the old ``revoked_at`` / secret back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from inference.proxy.contract import hash_secret
from keys import apis, services
from keys.models import ApiKey
from llmaas.redis_client import redis_keys

pytestmark = pytest.mark.django_db(transaction=True)


def _in_thread(work: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()  # each thread's own connection: never left open on the test database

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _patch_with_a_stale_read(monkeypatch, api, user, org, key_id: str, other_done: threading.Event) -> dict:
    """PATCH the key's name in a thread whose view read the key before ``other_done``."""
    read = threading.Event()
    original = apis.key_get
    patcher: list[int] = [0]  # the PATCH's thread: only its read waits

    def key_get_then_wait(**kwargs: Any) -> ApiKey:
        key = original(**kwargs)
        if threading.get_ident() == patcher[0]:
            read.set()
            assert other_done.wait(30), "the concurrent change never finished"
        return key

    monkeypatch.setattr(apis, "key_get", key_get_then_wait)
    result: dict[str, Any] = {}

    def patch() -> None:
        patcher[0] = threading.get_ident()
        response = api(user, org).patch(f"/api/keys/{key_id}/", {"name": "renamed"}, format="json")
        result["status"] = response.status_code

    result["thread"] = _in_thread(patch)
    assert read.wait(30), "the PATCH never read the key"
    return result


def test_it_keeps_a_key_revoked_when_a_patch_read_it_before_the_revocation(org_a, api, redis_client, monkeypatch):
    org, p = org_a
    created = api(p["alice"], org).post("/api/keys/", {"name": "k"}, format="json").json()
    snapshot = redis_keys().key(hash_secret(created["secret"]))
    assert redis_client.exists(snapshot)
    revoked = threading.Event()
    patch = _patch_with_a_stale_read(monkeypatch, api, p["alice"], org, created["id"], revoked)

    def revoke() -> None:
        try:
            assert api(p["alice"], org).delete(f"/api/keys/{created['id']}/").status_code == 204
        finally:
            revoked.set()

    _in_thread(revoke).join(30)
    patch["thread"].join(30)
    assert patch["status"] == 409  # the PATCH sees the revocation, under the row lock
    key = ApiKey.objects.get(pk=created["id"])
    assert key.revoked_at is not None and key.name == "k"
    assert not redis_client.exists(snapshot)  # the proxy refuses it


def test_it_keeps_a_rotation_when_a_patch_read_the_key_before_it(org_a, api, redis_client, monkeypatch):
    org, p = org_a
    created = api(p["alice"], org).post("/api/keys/", {"name": "k"}, format="json").json()
    rotated = threading.Event()
    patch = _patch_with_a_stale_read(monkeypatch, api, p["alice"], org, created["id"], rotated)
    new: dict[str, str] = {}

    def rotate() -> None:
        try:
            body = {"rotation_id": "r1", "grace_seconds": 0}
            response = api(p["alice"], org).post(f"/api/keys/{created['id']}/rotate", body, format="json")
            assert response.status_code == 201, response.content
            new["secret"] = response.json()["secret"]
        finally:
            rotated.set()

    _in_thread(rotate).join(30)
    patch["thread"].join(30)
    assert patch["status"] == 200
    key = ApiKey.objects.get(pk=created["id"])
    assert key.name == "renamed"  # the PATCH's own change is kept …
    assert key.secret_hash == hash_secret(new["secret"]) and key.rotation_id == "r1"  # … and so is the rotation
    keys = redis_keys()
    assert redis_client.exists(keys.key(hash_secret(new["secret"])))
    assert not redis_client.exists(keys.key(hash_secret(created["secret"])))  # no grace: the old secret is gone


def test_it_keeps_an_organization_limit_set_while_another_change_read_the_organization(
    org_a, api, redis_client, monkeypatch
):
    """Two admins change different limits of one organization at once: both changes stay."""
    org, _ = org_a
    first_read = threading.Event()
    second_done = threading.Event()
    original = services._check_models
    waiting: list[int] = [0]

    def check_then_wait(models: list[str]) -> list[str]:
        if threading.get_ident() == waiting[0]:
            first_read.set()
            assert second_done.wait(30)
        return original(models)

    monkeypatch.setattr(services, "_check_models", check_then_wait)
    stale = type(org).objects.get(pk=org.pk)

    def slow() -> None:
        waiting[0] = threading.get_ident()
        services.organization_limits_set(organization=stale, changes={"rpm": 5, "models": ["tiny"]})

    thread = _in_thread(slow)
    assert first_read.wait(30)
    fresh = type(org).objects.get(pk=org.pk)

    def fast() -> None:
        try:
            services.organization_limits_set(organization=fresh, changes={"tpm": 777})
        finally:
            second_done.set()

    # The fast change may queue behind the slow one's row lock: run it in a thread too.
    other = _in_thread(fast)
    other.join(30)
    thread.join(30)
    org.refresh_from_db()
    assert (org.rpm, org.tpm, org.allowed_models) == (5, 777, ["tiny"])
