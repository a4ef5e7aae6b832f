"""The operators' admin: users (approve, deactivate, reactivate), organizations with members,
keys (search, revoke), the read-only audit trail; what reaches the proxy (real Redis)."""

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.services import organization_create
from accounts.tests.conftest import unique_email
from audit.models import AuditAction, AuditEvent
from inference.proxy.contract import KeySnapshot, RedisKeys
from keys.admin import ApiKeyAdmin
from keys.models import ApiKey
from keys.publishing import snapshot_publish_all
from keys.services import key_issue


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email=unique_email("ops.test"), password="pw-operator")


@pytest.fixture
def admin_client(operator):
    client = Client(HTTP_USER_AGENT="ops-browser/2.0")
    client.force_login(operator)
    return client


@pytest.fixture
def rkeys(settings):
    return RedisKeys(settings.REDIS_PREFIX)


def action(client, model: str, name: str, objects) -> None:
    response = client.post(
        f"/admin/{model}/", {"action": name, "_selected_action": [str(o.pk) for o in objects], "index": 0}
    )
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.fixture
def dave_keys(make_user, committed):
    """dave's key in his personal organization, and one he created in a team organization."""
    dave, alice = make_user("dave"), make_user("alice")
    team = organization_create(name="Team", owner=alice)
    Membership.objects.create(organization=team, user=dave, role="member")
    with committed():
        personal = key_issue(organization=dave.personal_organization, created_by=dave, name="personal").key
        org_key = key_issue(organization=team, created_by=dave, name="team").key
    return dave, personal, org_key


def published(redis_client, rkeys, key: ApiKey) -> bool:
    raw = redis_client.get(rkeys.key(key.secret_hash))
    return raw is not None and KeySnapshot.from_json(raw).key_id == str(key.id)


def test_deactivating_a_user_withdraws_their_personal_keys_and_keeps_their_org_keys(
    admin_client, operator, dave_keys, redis_client, rkeys, committed
):
    dave, personal, org_key = dave_keys
    assert published(redis_client, rkeys, personal) and published(redis_client, rkeys, org_key)
    with committed():
        action(admin_client, "accounts/user", "deactivate_users", [dave])
    dave.refresh_from_db()
    assert not dave.is_active
    assert not published(redis_client, rkeys, personal)
    assert published(redis_client, rkeys, org_key)  # keys outlive their creator
    snapshot_publish_all()  # the full republish agrees
    assert not published(redis_client, rkeys, personal) and published(redis_client, rkeys, org_key)
    event = AuditEvent.objects.get(action=AuditAction.USER_DEACTIVATED)
    assert (event.actor_id, event.target_id, event.user_agent) == (operator.pk, str(dave.pk), "ops-browser/2.0")

    with committed():
        action(admin_client, "accounts/user", "reactivate_users", [dave])
    assert published(redis_client, rkeys, personal)
    assert AuditEvent.objects.filter(action=AuditAction.USER_REACTIVATED, target_id=str(dave.pk)).exists()


def test_the_change_form_deactivates_like_the_action(admin_client, dave_keys, redis_client, rkeys, committed):
    dave, personal, org_key = dave_keys
    form = {"email": dave.email, "name": "Dave D.", "is_staff": "", "date_joined_0": "2026-01-01"}
    with committed():
        response = admin_client.post(f"/admin/accounts/user/{dave.pk}/change/", form)  # is_active unticked
    assert response.status_code == 302, response.content.decode()[:2000]
    dave.refresh_from_db()
    assert (dave.is_active, dave.name) == (False, "Dave D.")
    assert not published(redis_client, rkeys, personal) and published(redis_client, rkeys, org_key)
    assert AuditEvent.objects.filter(action=AuditAction.USER_DEACTIVATED, target_id=str(dave.pk)).exists()
    assert AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGED, target_id=str(dave.pk)).exists()


def test_a_full_republish_withdraws_a_personal_key_whose_user_it_read_just_before_deactivation(
    dave_keys, redis_client, rkeys
):
    """The race: a republish reads dave as active, the deactivation commits and withdraws, then
    the republish writes what it read. Its final check removes the snapshot again."""
    dave, personal, _ = dave_keys
    User.objects.filter(pk=dave.pk).update(is_active=False)  # committed, but the key still published
    assert published(redis_client, rkeys, personal)
    snapshot_publish_all()
    assert not published(redis_client, rkeys, personal)


def test_approving_is_idempotent_and_audited_once(admin_client, operator, db):
    pending = User.objects.create_user(email=unique_email(), password=None, approved=False)
    action(admin_client, "accounts/user", "approve_users", [pending])
    action(admin_client, "accounts/user", "approve_users", [pending])
    pending.refresh_from_db()
    assert pending.is_approved and pending.approved_by == operator
    assert AuditEvent.objects.filter(action=AuditAction.USER_APPROVED).count() == 1
    listed = admin_client.get("/admin/accounts/user/?approval=pending").content.decode()
    assert pending.email not in listed


def test_an_operator_adds_a_user_with_a_personal_organization(admin_client, operator):
    email = unique_email()
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"email": email.upper(), "password1": "a fine passphrase", "password2": "a fine passphrase"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email=email)
    assert user.check_password("a fine passphrase") and user.is_approved and user.email_verified
    assert user.approved_by == operator
    assert Organization.objects.get(personal_for=user).memberships.get().role == "owner"
    assert AuditEvent.objects.filter(action=AuditAction.ADMIN_ADDED, target_id=str(user.pk)).exists()


def test_users_and_keys_are_deactivated_or_revoked_never_deleted(admin_client, dave_keys):
    dave, personal, _ = dave_keys
    assert admin_client.get(f"/admin/accounts/user/{dave.pk}/delete/").status_code == 403
    assert admin_client.get(f"/admin/keys/apikey/{personal.pk}/delete/").status_code == 403


def test_deleting_a_team_organization_in_the_admin_withdraws_its_keys(
    admin_client, dave_keys, redis_client, rkeys, committed
):
    _dave, personal, org_key = dave_keys
    with committed():
        response = admin_client.post(f"/admin/accounts/organization/{org_key.organization_id}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:1000]
    assert not ApiKey.objects.filter(pk=org_key.pk).exists()
    assert not published(redis_client, rkeys, org_key) and published(redis_client, rkeys, personal)
    assert AuditEvent.objects.filter(action=AuditAction.ORG_DELETED, org_id=org_key.organization_id).exists()
    personal_org = personal.organization_id
    assert admin_client.get(f"/admin/accounts/organization/{personal_org}/delete/").status_code == 403


def _organization_form(org, member, *, role: str, **fields: object) -> dict[str, object]:
    """The admin's organization change form with its one membership inline, as a browser posts it."""
    membership = org.memberships.get()
    return {
        "name": "Team",
        "timezone": "UTC",
        "budget_period": "monthly",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk,
        "memberships-0-organization": org.pk,
        "memberships-0-user": member.pk,
        "memberships-0-role": role,
        **fields,
    }


def test_the_member_inline_keeps_an_owner(admin_client, make_user):
    alice = make_user("alice")
    org = organization_create(name="Team", owner=alice)
    form = _organization_form(org, alice, role="member")
    response = admin_client.post(f"/admin/accounts/organization/{org.pk}/change/", form)
    assert response.status_code == 200 and b"The organization needs an owner." in response.content
    assert org.memberships.get().role == "owner"
    form["memberships-0-role"] = "owner"
    form["name"] = "Team renamed"
    assert admin_client.post(f"/admin/accounts/organization/{org.pk}/change/", form).status_code == 302
    changed = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGED, org_id=org.pk)
    assert "Name" in changed.details["change"][0]["changed"]["fields"]


def test_the_revoke_action_revokes_and_audits_the_operator(admin_client, operator, dave_keys, redis_client, rkeys):
    _dave, _personal, org_key = dave_keys
    action(admin_client, "keys/apikey", "revoke", [org_key])
    org_key.refresh_from_db()
    assert org_key.revoked_by == operator
    event = AuditEvent.objects.get(action=AuditAction.KEY_REVOKED)
    assert (event.actor_id, event.org_id) == (operator.pk, org_key.organization_id)


def test_key_search_finds_by_prefix_or_by_organization_id(admin_client, dave_keys):
    _dave, _personal, org_key = dave_keys
    found = admin_client.get("/admin/keys/apikey/", {"q": org_key.prefix[:7]}).content.decode()
    assert org_key.name in found
    by_org = admin_client.get("/admin/keys/apikey/", {"q": str(org_key.organization_id)}).content.decode()
    assert "team" in by_org and ">personal<" not in by_org
    nothing = admin_client.get("/admin/keys/apikey/", {"q": "team"}).content.decode()  # a name is no prefix
    assert "0 api keys" in nothing


def test_the_audit_trail_is_read_only_in_the_admin(admin_client, dave_keys):
    event = AuditEvent.objects.first()
    assert event is not None
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"}).status_code == 403
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403


def test_the_admin_is_for_operators_only(make_user):
    client = Client()
    client.force_login(make_user("alice"))
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_organization_form_refuses_an_out_of_range_limit(admin_client, make_user):
    """Past PostgreSQL's integer: a form error naming the field, never a 500 (issue 14, item 9)."""
    alice = make_user("alice")
    org = organization_create(name="Team", owner=alice)
    form = _organization_form(org, alice, role="owner", tpm=str(2**31))
    response = admin_client.post(f"/admin/accounts/organization/{org.pk}/change/", form)
    assert response.status_code == 200 and b"2147483647" in response.content
    org.refresh_from_db()
    assert org.tpm is None


def test_the_key_form_saves_only_what_the_operator_changed(
    admin_client, dave_keys, redis_client, rkeys, committed, monkeypatch
):
    """A revocation committed while the admin handles the form (after it read the key) stays
    (issue 14, item 5)."""
    dave, personal, _ = dave_keys
    read = ApiKeyAdmin.get_object

    def read_then_revoked_elsewhere(self, request, object_id, from_field=None):
        key = read(self, request, object_id, from_field)
        ApiKey.objects.filter(pk=personal.pk).update(revoked_at=timezone.now())  # another operator's
        return key

    monkeypatch.setattr(ApiKeyAdmin, "get_object", read_then_revoked_elsewhere)
    form = {
        "organization": personal.organization_id,
        "created_by": dave.pk,
        "name": "renamed",
        "budget_period": "monthly",
        "store_chats": "",
        "allowed_models": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    with committed():
        response = admin_client.post(f"/admin/keys/apikey/{personal.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get(pk=personal.pk)
    assert key.name == "renamed" and key.revoked_at is not None
    assert not published(redis_client, rkeys, key)
