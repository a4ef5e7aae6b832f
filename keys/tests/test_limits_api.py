import uuid

import pytest

from keys.models import ApiKey


def create(api, user, org, **body):
    response = api(user, org).post("/api/keys/", {"name": "k", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_keys_take_limits_and_members_change_their_own(org_a, api, redis_client):
    org, p = org_a
    key = create(api, p["dave"], org, budget_usd="1.5", budget_period="daily", rpm=10, tpm=5000, max_parallel=2)
    assert (key["budget_usd"], key["budget_period"], key["rpm"], key["tpm"], key["max_parallel"]) == (
        "1.500000", "daily", 10, 5000, 2
    )  # fmt: skip
    changed = api(p["dave"], org).patch(f"/api/keys/{key['id']}/", {"rpm": None, "name": "renamed"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["rpm"] is None and changed.json()["name"] == "renamed"
    assert changed.json()["tpm"] == 5000  # untouched fields stay


@pytest.mark.parametrize(
    "body",
    [{"rpm": 0}, {"tpm": -1}, {"budget_usd": "-1"}, {"budget_period": "weekly"}, {"max_parallel": "many"}],
)
def test_invalid_limits_are_refused_and_change_nothing(org_a, api, body):
    org, p = org_a
    key = create(api, p["alice"], org, rpm=7)
    response = api(p["alice"], org).patch(f"/api/keys/{key['id']}/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert ApiKey.objects.get(pk=key["id"]).rpm == 7


def test_organization_limits_are_for_owners_and_admins(org_a, api, redis_client):
    org, p = org_a
    for persona in ("bob", "dave", "erin"):
        assert api(p[persona], org).get("/api/organization/limits").status_code == 200
        refused = api(p[persona], org).patch("/api/organization/limits", {"rpm": 5}, format="json")
        assert refused.status_code == 403
    assert api(p["charlie"], org).get("/api/organization/limits").status_code == 404
    ok = api(p["alice"], org).patch(
        "/api/organization/limits", {"rpm": 5, "timezone": "Asia/Tokyo", "models": ["tiny"]}, format="json"
    )
    assert ok.status_code == 200, ok.content
    assert (ok.json()["rpm"], ok.json()["timezone"], ok.json()["models"]) == (5, "Asia/Tokyo", ["tiny"])
    bad = api(p["alice"], org).patch("/api/organization/limits", {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400
    unknown = api(p["alice"], org).patch("/api/organization/limits", {"models": ["gpt-9"]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_model"


def test_rotation_is_idempotent_and_validated(org_a, api, redis_client):
    org, p = org_a
    key = create(api, p["alice"], org)
    client = api(p["alice"], org)
    first = client.post(f"/api/keys/{key['id']}/rotate", {"rotation_id": "r1", "grace_seconds": 60}, format="json")
    assert first.status_code == 201 and first.json()["secret"].startswith(key["prefix"])
    row = ApiKey.objects.get(pk=key["id"])
    assert row.previous_secret_hash and row.previous_secret_expires_at
    again = client.post(f"/api/keys/{key['id']}/rotate", {"rotation_id": "r1"}, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True and again.json()["secret"] is None
    assert ApiKey.objects.get(pk=key["id"]).secret_hash == row.secret_hash
    assert ApiKey.objects.filter(organization=org).count() == 1

    for body in ({}, {"rotation_id": "r2", "grace_seconds": -1}, {"rotation_id": "r2", "grace_seconds": 10**9}):
        assert client.post(f"/api/keys/{key['id']}/rotate", body, format="json").status_code == 400
    client.delete(f"/api/keys/{key['id']}/")
    revoked = client.post(f"/api/keys/{key['id']}/rotate", {"rotation_id": "r3"}, format="json")
    assert revoked.status_code == 409 and revoked.json()["error"]["code"] == "key_revoked"


def test_rotate_and_effective_follow_the_role_rules(org_a, api, redis_client):
    org, p = org_a
    key = create(api, p["alice"], org, rpm=10)
    rotate = {"rotation_id": str(uuid.uuid4())}
    assert api(p["charlie"]).post(f"/api/keys/{key['id']}/rotate", rotate, format="json").status_code == 404
    assert api(p["charlie"]).get(f"/api/keys/{key['id']}/effective").status_code == 404
    assert api(p["bob"], org).post(f"/api/keys/{key['id']}/rotate", rotate, format="json").status_code == 403
    assert api(p["dave"], org).post(f"/api/keys/{key['id']}/rotate", rotate, format="json").status_code == 403
    effective = api(p["alice"], org).get(f"/api/keys/{key['id']}/effective")
    assert effective.status_code == 200
    assert effective.json()["rpm"] == {"value": 10, "set_by": "key"}
    assert effective.json()["models"] == {"value": None, "set_by": None}


@pytest.mark.parametrize(
    "field,value",
    [("tpm", 2**31), ("rpm", 2**31), ("max_parallel", 2**31), ("tpm", 10**30), ("budget_usd", "1e20")],
)
def test_it_answers_400_naming_the_field_for_an_out_of_range_limit(org_a, api, redis_client, field, value):
    """Numbers past PostgreSQL's integer (or absurd ones) are a client error, never a 500."""
    org, p = org_a
    key = create(api, p["alice"], org, rpm=7)
    client = api(p["alice"], org)
    for response in (
        client.post("/api/keys/", {"name": "k2", field: value}, format="json"),
        client.patch(f"/api/keys/{key['id']}/", {field: value}, format="json"),
        client.patch("/api/organization/limits", {field: value}, format="json"),
    ):
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and field in error["details"], error
    assert ApiKey.objects.get(pk=key["id"]).rpm == 7


def test_it_answers_503_with_retry_after_when_effective_limits_cannot_read_redis(org_a, api, redis_client, settings):
    org, p = org_a
    key = create(api, p["alice"], org, budget_usd="1")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there (the shared Redis keeps running)
    response = api(p["alice"], org).get(f"/api/keys/{key['id']}/effective")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "redis_unavailable"
    assert int(response["Retry-After"]) >= 1
