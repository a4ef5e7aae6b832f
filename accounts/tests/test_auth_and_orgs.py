import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Organization
from accounts.services import membership_set, organization_create


def test_it_gives_every_user_a_personal_org_they_own(make_user):
    alice = make_user("alice")
    org = Organization.objects.get(personal_for=alice)
    assert Membership.objects.get(organization=org, user=alice).role == "owner"


def test_it_logs_in_with_email_and_password_and_shows_the_user(make_user):
    alice = make_user("alice")
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/auth/login", {"email": alice.email.upper(), "password": "pw-alice"}, format="json")
    assert response.status_code == 200, response.content
    me = client.get("/api/auth/me").json()
    assert me["email"] == alice.email
    assert [o["personal"] for o in me["organizations"]] == [True]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "nobody@example.com", "password": "x"}, 401, "invalid_credentials"),
        ({"email": "not-an-email", "password": "x"}, 400, "invalid_request"),
        ({"password": "x"}, 400, "invalid_request"),
    ],
)
def test_it_refuses_bad_logins_with_a_clear_error(db, body, status, code):
    response = APIClient().post("/api/auth/login", body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_it_answers_401_to_anonymous_api_calls(db):
    response = APIClient().get("/api/keys/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_enforces_csrf_on_session_writes(make_user):
    alice = make_user("alice")
    client = APIClient(enforce_csrf_checks=True)
    client.post("/api/auth/login", {"email": alice.email, "password": "pw-alice"}, format="json")
    response = client.post("/api/keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    assert client.post("/api/keys/", {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=token).status_code == 201


def test_the_org_header_selects_the_org_and_hides_others(make_user, api):
    alice, charlie = make_user("alice"), make_user("charlie")
    team = organization_create(name="Team A", owner=alice)
    key = api(alice, team).post("/api/keys/", {"name": "team key"}, format="json").json()
    assert api(alice).get("/api/keys/").json()["results"] == []  # personal org by default
    assert [k["id"] for k in api(alice, team).get("/api/keys/").json()["results"]] == [key["id"]]

    outsider = api(charlie, team).get("/api/keys/")
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "organization_not_found"
    unknown = api(alice).get("/api/keys/", HTTP_LLMAAS_ORGANIZATION=str(uuid.uuid4()))
    assert unknown.status_code == 404
    malformed = api(alice).get("/api/keys/", HTTP_LLMAAS_ORGANIZATION="org-1")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_organization_id"

    membership_set(organization=team, user=charlie, role="viewer")
    assert api(charlie, team).get("/api/keys/").status_code == 403


def test_unknown_api_paths_answer_json_404s(db):
    response = APIClient().get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
