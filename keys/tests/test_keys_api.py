import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from accounts.services import membership_set
from keys.models import ApiKey


def test_it_shows_the_secret_once_and_stores_only_its_hash(org_a, api):
    org, p = org_a
    response = api(p["alice"], org).post("/api/keys/", {"name": "prod", "models": ["tiny"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("sk-") and len(secret) > 40
    assert body["prefix"] == secret[:10] and body["models"] == ["tiny"] and body["revoked"] is False

    row = ApiKey.objects.get(pk=body["id"])
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.filter(pk=body["id"]).values().get())

    for response in (
        api(p["alice"], org).get("/api/keys/"),
        api(p["alice"], org).get(f"/api/keys/{body['id']}/"),
    ):
        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert "secret" not in response.content.decode()
    listed = api(p["alice"], org).get("/api/keys/").json()["results"][0]
    assert set(listed) >= {"id", "name", "prefix", "created_at", "last_used_at", "revoked"}


def test_outsiders_get_404_for_the_org_and_its_keys(org_a, api):
    org, p = org_a
    key = api(p["alice"], org).post("/api/keys/", {"name": "k"}, format="json").json()
    charlie = p["charlie"]
    assert api(charlie, org).get("/api/keys/").status_code == 404
    assert api(charlie, org).post("/api/keys/", {"name": "x"}, format="json").status_code == 404
    # In charlie's own org the key simply does not exist.
    for method in ("get", "delete"):
        response = getattr(api(charlie), method)(f"/api/keys/{key['id']}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "key_not_found"
    assert ApiKey.objects.get(pk=key["id"]).revoked_at is None


@pytest.mark.parametrize("persona", ["bob", "erin"])
def test_roles_without_keys_get_403(org_a, api, persona):
    org, p = org_a
    key = api(p["alice"], org).post("/api/keys/", {"name": "k"}, format="json").json()
    client = api(p[persona], org)
    for response in (
        client.post("/api/keys/", {"name": "x"}, format="json"),
        client.get("/api/keys/"),
        client.get(f"/api/keys/{key['id']}/"),
        client.delete(f"/api/keys/{key['id']}/"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
    assert ApiKey.objects.get(pk=key["id"]).revoked_at is None


def test_members_manage_only_their_own_keys_and_admins_all(org_a, api):
    org, p = org_a
    alices = api(p["alice"], org).post("/api/keys/", {"name": "alice's"}, format="json").json()
    daves = api(p["dave"], org).post("/api/keys/", {"name": "dave's"}, format="json").json()
    assert [k["id"] for k in api(p["dave"], org).get("/api/keys/").json()["results"]] == [daves["id"]]
    assert {k["id"] for k in api(p["alice"], org).get("/api/keys/").json()["results"]} == {alices["id"], daves["id"]}

    refused = api(p["dave"], org).delete(f"/api/keys/{alices['id']}/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_key_creator"
    assert api(p["dave"], org).delete(f"/api/keys/{daves['id']}/").status_code == 204
    membership_set(organization=org, user=p["bob"], role="admin")
    assert api(p["bob"], org).delete(f"/api/keys/{alices['id']}/").status_code == 204


def test_revoking_is_idempotent_and_keeps_the_key_listed(org_a, api):
    org, p = org_a
    client = api(p["alice"], org)
    key = client.post("/api/keys/", {"name": "k"}, format="json").json()
    assert client.delete(f"/api/keys/{key['id']}/").status_code == 204
    first = ApiKey.objects.get(pk=key["id"]).revoked_at
    assert client.delete(f"/api/keys/{key['id']}/").status_code == 204
    assert ApiKey.objects.get(pk=key["id"]).revoked_at == first
    listed = client.get("/api/keys/").json()["results"][0]
    assert listed["revoked"] is True and listed["revoked_at"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
        ({"name": "x" * 101}, "invalid_request"),
        ({"name": "k", "models": "tiny"}, "invalid_request"),
        ({"name": "k", "models": ["gpt-5"]}, "unknown_model"),
        ({"name": "k", "expires_at": "yesterday"}, "invalid_request"),
        ({"name": "k", "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}, "invalid_expiry"),
    ],
)
def test_it_refuses_invalid_keys_with_a_clear_error_and_creates_nothing(org_a, api, body, code):
    org, p = org_a
    response = api(p["alice"], org).post("/api/keys/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not ApiKey.objects.filter(organization=org).exists()


def test_it_refuses_a_body_that_is_not_json(org_a, api):
    org, p = org_a
    client = api(p["alice"], org)
    assert client.post("/api/keys/", "name=x", content_type="application/x-www-form-urlencoded").status_code == 415
    broken = client.post("/api/keys/", "{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "parse_error"


def test_malformed_key_ids_are_404(org_a, api):
    org, p = org_a
    for key_id in ("nope", str(uuid.uuid4())):
        response = api(p["alice"], org).delete(f"/api/keys/{key_id}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "key_not_found"
