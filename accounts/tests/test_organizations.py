"""Organizations: create, rename, delete, transfer, leave; members and roles; invitations."""

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.context import OrgContext
from accounts.models import Invitation, Membership, Organization, User
from accounts.services import membership_leave, membership_set
from accounts.tests.conftest import unique_email
from audit.models import AuditAction, AuditEvent
from inference.proxy.contract import RedisKeys
from keys.models import ApiKey


def role_of(org, user) -> str | None:
    membership = Membership.objects.filter(organization=org, user=user).first()
    return membership.role if membership else None


def test_it_creates_an_organization_owned_by_its_creator(make_user, api):
    alice = make_user("alice")
    response = api(alice).post("/api/organizations/", {"name": "Lab"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["role"], body["personal"]) == ("Lab", "owner", False)
    listed = api(alice).get("/api/organizations/").json()["results"]
    assert [(o["name"], o["role"]) for o in listed][1:] == [("Lab", "owner")]
    assert listed[0]["personal"] is True
    blank = api(alice).post("/api/organizations/", {"name": ""}, format="json")
    assert blank.status_code == 400 and "name" in blank.json()["error"]["details"]


def test_owners_and_admins_rename_and_only_owners_delete(team, api, committed, redis_client, settings):
    org, _, p = team
    membership_set(organization=org, user=p["bob"], role="admin")
    assert api(p["dave"], org).patch("/api/organization", {"name": "X"}, format="json").status_code == 403
    renamed = api(p["bob"], org).patch("/api/organization", {"name": "Org A2"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Org A2"
    assert api(p["alice"], org).get("/api/organization").json() | {"role": "owner"} == renamed.json() | {
        "role": "owner"
    }

    with committed():
        issued = api(p["dave"], org).post("/api/keys/", {"name": "k"}, format="json").json()
    rkeys = RedisKeys(settings.REDIS_PREFIX)
    key_hash = ApiKey.objects.get(pk=issued["id"]).secret_hash
    assert redis_client.get(rkeys.key(key_hash)) is not None

    refused = api(p["bob"], org).delete("/api/organization")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    with committed():
        assert api(p["alice"], org).delete("/api/organization").status_code == 204
    assert not Organization.objects.filter(pk=org.pk).exists() and not ApiKey.objects.filter(pk=issued["id"]).exists()
    assert redis_client.get(rkeys.key(key_hash)) is None  # the proxy refuses its keys at once
    deleted = AuditEvent.objects.get(action=AuditAction.ORG_DELETED)
    assert (deleted.org_id, deleted.actor_id, deleted.details["keys"]) == (org.id, p["alice"].pk, 1)
    assert api(p["alice"], org).get("/api/organization").status_code == 404


def test_a_personal_organization_stays_its_owners_alone(make_user, api):
    alice = make_user("alice")
    client = api(alice)  # no header: the personal organization
    for response in (
        client.delete("/api/organization"),
        client.post("/api/organization/leave"),
        client.post("/api/organization/invitations", {"email": unique_email()}, format="json"),
    ):
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "personal_organization"
    assert client.get("/api/organization").json()["personal"] is True


def test_transferring_ownership_swaps_the_roles_at_once(team, api):
    org, _, p = team
    response = api(p["alice"], org).post("/api/organization/transfer", {"user_id": str(p["dave"].pk)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"
    assert (role_of(org, p["dave"]), role_of(org, p["alice"])) == ("owner", "admin")
    event = AuditEvent.objects.get(action=AuditAction.ORG_OWNERSHIP_TRANSFERRED)
    assert event.details["to"] == p["dave"].email and event.target_id == str(p["dave"].pk)
    # Alice is an admin now: no more transfers, and she cannot take the owner role back.
    again = api(p["alice"], org).post("/api/organization/transfer", {"user_id": str(p["bob"].pk)}, format="json")
    assert again.status_code == 403
    grab = api(p["alice"], org).patch(f"/api/organization/members/{p['alice'].pk}", {"role": "owner"}, format="json")
    assert grab.status_code == 403 and role_of(org, p["alice"]) == "admin"


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [("charlie", 404, "member_not_found"), ("alice", 400, "transfer_to_self"), ("nobody", 400, "invalid_request")],
)
def test_a_transfer_needs_another_member(team, api, target, status, code):
    org, _, p = team
    user_id = "not-a-uuid" if target == "nobody" else str(p[target].pk)
    response = api(p["alice"], org).post("/api/organization/transfer", {"user_id": user_id}, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert role_of(org, p["alice"]) == "owner"


def test_a_transfer_to_a_deactivated_member_is_refused(team, api):
    org, _, p = team
    User.objects.filter(pk=p["dave"].pk).update(is_active=False)
    response = api(p["alice"], org).post("/api/organization/transfer", {"user_id": str(p["dave"].pk)}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "member_inactive"


def test_the_last_owner_can_neither_leave_nor_be_demoted_nor_removed(team, api):
    org, _, p = team
    alice = api(p["alice"], org)
    for response in (
        alice.post("/api/organization/leave"),
        alice.patch(f"/api/organization/members/{p['alice'].pk}", {"role": "admin"}, format="json"),
        alice.delete(f"/api/organization/members/{p['alice'].pk}"),
    ):
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "last_owner"
    assert role_of(org, p["alice"]) == "owner"
    # With a second owner, either may go.
    assert alice.patch(f"/api/organization/members/{p['dave'].pk}", {"role": "owner"}, format="json").status_code == 200
    assert alice.post("/api/organization/leave").status_code == 204
    assert role_of(org, p["alice"]) is None
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_LEFT, actor_id=p["alice"].pk).exists()


def test_only_owners_touch_owners(team, api):
    org, _, p = team
    membership_set(organization=org, user=p["bob"], role="admin")
    bob = api(p["bob"], org)
    for response in (
        bob.patch(f"/api/organization/members/{p['dave'].pk}", {"role": "owner"}, format="json"),
        bob.patch(f"/api/organization/members/{p['alice'].pk}", {"role": "member"}, format="json"),
        bob.delete(f"/api/organization/members/{p['alice'].pk}"),
        bob.post("/api/organization/invitations", {"email": unique_email(), "role": "owner"}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["details"]["action"] == "member.manage_owners"
    assert role_of(org, p["alice"]) == "owner" and role_of(org, p["dave"]) == "member"
    # Admins manage everyone else.
    changed = bob.patch(f"/api/organization/members/{p['dave'].pk}", {"role": "viewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    assert bob.delete(f"/api/organization/members/{p['dave'].pk}").status_code == 204
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert (event.details["from"], event.details["to"], event.actor_id) == ("member", "viewer", p["bob"].pk)
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_REMOVED, target_id=str(p["dave"].pk)).exists()


def test_removing_a_member_keeps_the_keys_they_created(team, api):
    org, _, p = team
    key = api(p["dave"], org).post("/api/keys/", {"name": "dave's"}, format="json").json()
    assert api(p["alice"], org).delete(f"/api/organization/members/{p['dave'].pk}").status_code == 204
    assert api(p["dave"], org).get("/api/keys/").status_code == 404  # he is outside now
    kept = api(p["alice"], org).get(f"/api/keys/{key['id']}/").json()
    assert kept["revoked"] is False and kept["created_by"] == p["dave"].email


def test_members_are_listed_with_their_roles(team, api):
    org, _, p = team
    listed = api(p["bob"], org).get("/api/organization/members").json()["results"]
    assert [(m["email"], m["role"]) for m in listed] == [
        (p["alice"].email, "owner"),
        (p["bob"].email, "viewer"),
        (p["dave"].email, "member"),
    ]
    page = api(p["bob"], org).get("/api/organization/members?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    bad_role = api(p["alice"], org).patch(f"/api/organization/members/{p['dave'].pk}", {"role": "god"}, format="json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()["error"]["details"]
    unknown = api(p["alice"], org).get("/api/organization/members/not-a-uuid")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "member_not_found"


def test_leaving_twice_at_once_cannot_leave_the_organization_without_an_owner(team, transactional_db):
    """Two owners leave concurrently: the organization's row lock makes the second one wait and
    then see it would be the last owner."""
    org, _, p = team
    membership_set(organization=org, user=p["dave"], role="owner")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def leave(user):
        try:
            barrier.wait()
            membership_leave(ctx=OrgContext(user=user, organization=org, role="owner"))
            outcomes.append("left")
        except Exception as exc:
            outcomes.append(getattr(exc, "code", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=leave, args=(p[name],)) for name in ("alice", "dave")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["last_owner", "left"]
    assert Membership.objects.filter(organization=org, role="owner").count() == 1


# --- invitations ---------------------------------------------------------------------------------
def invite(api, committed, inviter, org, email, role="member"):
    with committed():
        response = api(inviter, org).post(
            "/api/organization/invitations", {"email": email, "role": role}, format="json"
        )
    assert response.status_code == 201, response.content
    token = re.search(r"token=([\w-]+)", mail.outbox[-1].body).group(1)
    return response.json(), token


def accept(api, user, token):
    return api(user).post("/api/invitations/accept", {"token": token}, format="json")


def test_an_accepted_invitation_joins_with_the_invited_role(team, api, committed):
    org, _, p = team
    erin = User.objects.create_user(email=unique_email(), password="pw-erin", verified=False)
    body, token = invite(api, committed, p["alice"], org, erin.email.upper(), role="viewer")
    assert (body["email"], body["role"], body["status"], body["invited_by"]) == (
        erin.email,
        "viewer",
        "pending",
        p["alice"].email,
    )
    message = mail.outbox[-1]
    assert message.to == [erin.email] and "Org A" in message.subject and "/invitations/accept?token=" in message.body
    assert token not in str(Invitation.objects.values().get())  # only its hash is stored
    assert [i["id"] for i in api(p["alice"], org).get("/api/organization/invitations").json()["results"]] == [
        body["id"]
    ]

    joined = accept(api, erin, token)
    assert joined.status_code == 200, joined.content
    assert (joined.json()["id"], joined.json()["role"]) == (str(org.id), "viewer")
    assert role_of(org, erin) == "viewer"
    erin.refresh_from_db()
    assert erin.email_verified  # the token came to her mailbox
    assert api(p["alice"], org).get("/api/organization/invitations").json()["results"] == []
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_JOINED, actor_id=erin.pk, org_id=org.id).exists()
    invited = AuditEvent.objects.get(action=AuditAction.MEMBER_INVITED)
    assert invited.details == {"email": erin.email, "role": "viewer", "replaced": 0}


def test_invitations_refuse_expired_reused_revoked_and_wrong_email_tokens(team, api, committed):
    org, _, p = team
    erin = User.objects.create_user(email=unique_email(), password="pw-erin")
    body, token = invite(api, committed, p["alice"], org, erin.email)

    wrong = accept(api, p["charlie"], token)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invitation_wrong_email"
    Invitation.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = accept(api, erin, token)
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invitation_expired"
    listed = api(p["alice"], org).get("/api/organization/invitations").json()["results"]
    assert [i["status"] for i in listed] == ["expired"]

    _, token = invite(api, committed, p["alice"], org, erin.email)
    assert accept(api, erin, token).status_code == 200
    reused = accept(api, erin, token)
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "invitation_used"
    garbage = accept(api, erin, "x" * 43)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invitation_invalid"

    frank = User.objects.create_user(email=unique_email(), password="pw-frank")
    body, token = invite(api, committed, p["alice"], org, frank.email)
    assert api(p["alice"], org).delete(f"/api/organization/invitations/{body['id']}").status_code == 204
    assert api(p["alice"], org).delete(f"/api/organization/invitations/{body['id']}").status_code == 204  # idempotent
    revoked = accept(api, frank, token)
    assert revoked.status_code == 400 and revoked.json()["error"]["code"] == "invitation_revoked"
    assert role_of(org, frank) is None and role_of(org, p["charlie"]) is None


def test_a_new_invitation_replaces_the_pending_one(team, api, committed):
    org, _, p = team
    erin = User.objects.create_user(email=unique_email(), password="pw-erin")
    _, first = invite(api, committed, p["alice"], org, erin.email, role="viewer")
    _, second = invite(api, committed, p["alice"], org, erin.email, role="member")
    assert accept(api, erin, first).json()["error"]["code"] == "invitation_revoked"
    assert accept(api, erin, second).json()["role"] == "member"


def test_inviting_a_member_or_joining_twice_is_a_conflict(team, api, committed):
    org, _, p = team
    with committed():
        member = api(p["alice"], org).post("/api/organization/invitations", {"email": p["dave"].email}, format="json")
    assert member.status_code == 409 and member.json()["error"]["code"] == "already_member"
    assert not mail.outbox
    erin = User.objects.create_user(email=unique_email(), password="pw-erin")
    _, first = invite(api, committed, p["alice"], org, erin.email)
    membership_set(organization=org, user=erin, role="viewer")  # joined meanwhile, another way
    twice = accept(api, erin, first)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_member"
    assert role_of(org, erin) == "viewer"
    bad = api(p["alice"], org).post("/api/organization/invitations", {"email": "nope", "role": "x"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"email", "role"}


def test_an_accepted_invitation_cannot_be_withdrawn(team, api, committed):
    org, _, p = team
    erin = User.objects.create_user(email=unique_email(), password="pw-erin")
    body, token = invite(api, committed, p["alice"], org, erin.email)
    accept(api, erin, token)
    refused = api(p["alice"], org).delete(f"/api/organization/invitations/{body['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invitation_used"
    assert role_of(org, erin) == "member"


def test_an_owner_invitation_is_for_owners_to_send(team, api, committed):
    org, _, p = team
    erin = User.objects.create_user(email=unique_email(), password="pw-erin")
    _, token = invite(api, committed, p["alice"], org, erin.email, role="owner")
    assert accept(api, erin, token).json()["role"] == "owner"
    assert role_of(org, erin) == "owner"
