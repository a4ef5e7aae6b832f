"""The audit trail: what is recorded, GET /api/audit/ (filters, cursor pages), no secrets."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import membership_set, organization_create
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record


@pytest.fixture
def org(make_user, catalog):
    alice, dave = make_user("alice"), make_user("dave")
    org = organization_create(name="Org A", owner=alice)
    membership_set(organization=org, user=dave, role="member")
    return org, alice, dave


def client_for(user, org) -> APIClient:
    client = APIClient(HTTP_USER_AGENT="sdk/1.2", HTTP_X_REAL_IP="198.51.100.7")
    client.force_authenticate(user)
    client.credentials(HTTP_LLMAAS_ORGANIZATION=str(org.id))
    return client


def trail(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/audit/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_key_changes_are_recorded_with_who_what_when_and_where(org):
    org, alice, dave = org
    daves = client_for(dave, org)
    issued = daves.post("/api/keys/", {"name": "ci", "models": ["tiny"], "rpm": 5}, format="json").json()
    daves.patch(f"/api/keys/{issued['id']}/", {"name": "ci-2", "rpm": 5}, format="json")  # rpm unchanged
    daves.post(f"/api/keys/{issued['id']}/rotate", {"rotation_id": "r1"}, format="json")
    client_for(alice, org).patch("/api/organization/limits", {"tpm": 1000}, format="json")
    daves.delete(f"/api/keys/{issued['id']}/")

    events = trail(client_for(alice, org))
    assert [e["action"] for e in events][:5] == [
        "key.revoked",
        "limits.changed",
        "key.rotated",
        "key.changed",
        "key.created",
    ]
    revoked, limits, rotated, changed, created = events[:5]
    assert revoked["actor"] == {"id": str(dave.pk), "email": dave.email}
    assert revoked["target"] == {"type": "apikey", "id": issued["id"]}
    assert (revoked["ip"], revoked["user_agent"]) == ("198.51.100.7", "sdk/1.2")
    assert changed["details"] == {"name": {"from": "ci", "to": "ci-2"}}
    assert limits["details"] == {"tpm": {"from": None, "to": 1000}} and limits["actor"]["id"] == str(alice.pk)
    assert created["details"] == {
        "name": "ci",
        "prefix": issued["prefix"],
        "models": ["tiny"],
        "rpm": 5,
        "budget_period": "monthly",
    }
    assert rotated["details"] == {"prefix": issued["prefix"], "grace_seconds": 3600}
    everything = str(list(AuditEvent.objects.values()))
    assert issued["secret"] not in everything and "secret_hash" not in everything


def test_it_filters_by_action_and_time_range(org):
    org, alice, _ = org
    now = timezone.now()
    for minutes, action in (
        (30, AuditAction.KEY_CREATED),
        (20, AuditAction.KEY_REVOKED),
        (10, AuditAction.KEY_CREATED),
    ):
        event = audit_record(action=action, actor=alice, org_id=org.id)
        AuditEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(minutes=minutes))
    client = client_for(alice, org)
    assert [e["action"] for e in trail(client, "?action=key.revoked")] == ["key.revoked"]
    both = trail(client, "?action=key.revoked&action=key.created")
    assert [e["action"] for e in both] == ["key.created", "key.revoked", "key.created"]
    since = (now - timedelta(minutes=25)).isoformat().replace("+00:00", "Z")
    until = (now - timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    windowed = trail(client, f"?since={since}&until={until}")
    assert [e["action"] for e in windowed] == ["key.revoked"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?action=key.exploded", "invalid_request"),
        ("?since=yesterday", "invalid_request"),
        ("?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_time_range"),
    ],
)
def test_it_refuses_bad_filters(org, query, code):
    org, alice, _ = org
    response = client_for(alice, org).get(f"/api/audit/{query}")
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_it_pages_with_a_cursor_without_gaps_or_repeats(org):
    org, alice, _ = org
    for _ in range(7):
        audit_record(action=AuditAction.KEY_CREATED, actor=alice, org_id=org.id)
    expected = set(AuditEvent.objects.filter(org_id=org.id).values_list("id", flat=True))
    client, seen, url = client_for(alice, org), [], "/api/audit/?limit=3"
    while url:
        page = client.get(url).json()
        seen += [e["id"] for e in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) and set(seen) == expected
    bad = client.get("/api/audit/?cursor=garbage")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"


def test_it_never_stores_secret_looking_details(db):
    event = audit_record(
        action=AuditAction.KEY_CREATED,
        details={"name": "k", "secret": "sk-x", "password": "p", "nested": {"token": "t", "ok": 1}},
    )
    assert event.details == {"name": "k", "nested": {"ok": 1}}
