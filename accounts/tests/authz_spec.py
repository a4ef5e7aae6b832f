"""The authorization matrix's spec: every endpoint of the URL conf, method by method.

``test_authz_matrix.py`` walks Django's URL resolver; an endpoint (or a method of one) that is
neither in ``SPEC`` nor in ``EXCLUDED`` fails the test with its name. For every entry it checks,
with the personas of `build_world`:

- charlie (owner of org B, outside org A) asking in org A gets 404 — and, for a path naming an
  org A object (a key, a member, an invitation…), asking in his own org B gets 404 too;
- alice (owner), bob (viewer) and dave (member) of org A get ``ok`` when their role allows
  ``action`` (accounts/roles.py), else 403; ``expect`` overrides that per persona where the
  object decides (dave may manage keys, but not alice's: 403);
- a list (``lists``) never shows another organization's objects, in either direction.

The matrix runs with sessions and again with Bearer tokens holding every scope (same
expectations: the role decides); a view that is SESSION_ONLY for the method refuses every token
with 403 ``session_required`` instead.

Each persona's request runs in a savepoint that is rolled back, so destructive calls (delete,
leave, transfer) all start from the same world.

To add an endpoint:
1. add its route, exactly as the resolver spells it (e.g. ``"api/usage/summary"`` or
   ``"api/chats/<str:chat_id>/"``), with one `Case` per method;
2. if its path has a parameter, map the parameter's name to an org A object in `PATH_OBJECTS`
   (and create that object, and one of org B, in `build_world`);
3. for a list, name the kind of object in ``lists`` and record both organizations' ids of it in
   ``World.ids`` (with ``id_field`` the results' id field).
An endpoint that is not organization-scoped goes to ``EXCLUDED`` with the reason, or gets
``scoped=False`` (no header; every persona sees only their own).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.context import OrgContext
from accounts.models import Invitation, Organization, User
from accounts.roles import Action
from accounts.services import membership_set, organization_create
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from billing.ledger import entry_append
from billing.models import EntryKind, RedemptionCode
from inference.proxy.contract import UsageRecord
from keys.models import ApiKey
from keys.services import key_issue
from oauth.services import app_register
from usage.models import Notification
from usage.services import request_logs_ingest

PERSONAS = ("alice", "bob", "dave")  # org A: owner, viewer, member
OUTSIDER = "charlie"  # owner of org B


@dataclass
class World:
    users: dict[str, User]
    org_a: Organization
    org_b: Organization
    alice_key: ApiKey
    invitation_a: Invitation
    notification_a: Notification
    app_a: str = ""  # the client id of org A's OAuth app
    # kind → organization ("A"/"B") → the ids a list of that kind may (A for org A) or may not show
    ids: dict[str, dict[str, set[str]]] = field(default_factory=dict)


Body = dict[str, Any] | Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    action: Action | None  # None: every member may
    ok: int  # the status when the persona may
    body: Body = None
    expect: dict[str, int] = field(default_factory=dict)  # persona → status, where the object decides
    lists: str | None = None  # a list endpoint: the kind of object it lists (a key of World.ids)
    id_field: str = "id"
    scoped: bool = True  # organization-scoped (the LLMaaS-Organization header)


KEY_BODY = {"name": "k"}
APP_BODY = {"name": "App", "client_type": "confidential", "redirect_uris": ["https://app.example/callback"]}
SPEC: dict[str, dict[str, Case]] = {
    # keys
    "api/keys/": {
        "GET": Case(Action.KEY_LIST, 200, lists="key"),
        "POST": Case(Action.KEY_CREATE, 201, KEY_BODY),
    },
    "api/keys/playground": {"POST": Case(Action.KEY_CREATE, 201)},
    "api/keys/<str:key_id>/": {
        "GET": Case(Action.KEY_LIST, 200, expect={"dave": 403}),
        "PATCH": Case(Action.KEY_MANAGE_OWN, 200, {"name": "renamed"}, expect={"dave": 403}),
        "DELETE": Case(Action.KEY_MANAGE_OWN, 204, expect={"dave": 403}),
    },
    "api/keys/<str:key_id>/rotate": {
        "POST": Case(Action.KEY_MANAGE_OWN, 201, {"rotation_id": "r1"}, expect={"dave": 403}),
    },
    "api/keys/<str:key_id>/effective": {"GET": Case(Action.KEY_LIST, 200, expect={"dave": 403})},
    # the model catalog (what the organization's keys may use)
    "api/models/": {"GET": Case(Action.MODEL_LIST, 200)},
    # the current organization
    "api/organization": {
        "GET": Case(Action.ORG_VIEW, 200),
        "PATCH": Case(Action.ORG_UPDATE, 200, {"name": "Renamed"}),
        "DELETE": Case(Action.ORG_DELETE, 204),
    },
    "api/organization/transfer": {
        "POST": Case(Action.ORG_TRANSFER, 200, lambda w: {"user_id": str(w.users["dave"].pk)}),
    },
    # alice is org A's only owner: she may not leave it (409); the others may.
    "api/organization/leave": {"POST": Case(Action.ORG_VIEW, 204, expect={"alice": 409})},
    "api/organization/limits": {
        "GET": Case(Action.LIMITS_VIEW, 200),
        "PATCH": Case(Action.LIMITS_MANAGE, 200, {"rpm": 100}),
    },
    "api/organization/members": {
        "GET": Case(Action.MEMBER_LIST, 200, lists="member", id_field="user_id"),
    },
    "api/organization/members/<str:user_id>": {
        "GET": Case(Action.MEMBER_LIST, 200),
        "PATCH": Case(Action.MEMBER_MANAGE, 200, {"role": "viewer"}),
        "DELETE": Case(Action.MEMBER_MANAGE, 204),
    },
    "api/organization/invitations": {
        "GET": Case(Action.MEMBER_MANAGE, 200, lists="invitation"),
        "POST": Case(Action.MEMBER_MANAGE, 201, {"email": "newcomer@example.com", "role": "member"}),
    },
    "api/organization/invitations/<str:invitation_id>": {"DELETE": Case(Action.MEMBER_MANAGE, 204)},
    "api/audit/": {"GET": Case(Action.AUDIT_VIEW, 200, lists="audit")},
    # the organization's OAuth apps
    "api/organization/apps": {
        "GET": Case(Action.APP_MANAGE, 200, lists="app", id_field="client_id"),
        "POST": Case(Action.APP_MANAGE, 201, APP_BODY),
    },
    "api/organization/apps/<str:client_id>": {
        "GET": Case(Action.APP_MANAGE, 200),
        "PATCH": Case(Action.APP_MANAGE, 200, {"name": "Renamed app"}),
        "DELETE": Case(Action.APP_MANAGE, 204),
    },
    "api/organization/apps/<str:client_id>/secret": {"POST": Case(Action.APP_MANAGE, 201)},
    # usage: every role reads usage (members only their keys': the view narrows, never 403s)
    "api/usage/summary": {"GET": Case(None, 200)},
    "api/usage/summary/export": {"GET": Case(None, 200)},
    "api/usage/logs": {"GET": Case(None, 200, lists="log", id_field="call_id")},
    "api/usage/logs/export": {"GET": Case(None, 200)},
    "api/usage/retention": {
        "GET": Case(Action.USAGE_VIEW_ALL, 200),
        "PATCH": Case(Action.RETENTION_MANAGE, 200, {"chat_retention_days": 7}),
    },
    "api/chats/": {"GET": Case(Action.CHAT_VIEW_OWN, 200, lists="chat", id_field="call_id")},
    "api/chats/export": {"GET": Case(Action.CHAT_VIEW_OWN, 200)},
    "api/chats/delete": {"POST": Case(Action.RETENTION_MANAGE, 200, {"everything": True})},
    "api/notifications/": {"GET": Case(Action.NOTIFICATION_VIEW, 200, lists="notification")},
    # alice's notification: nobody else's to read (404, as for another organization's)
    "api/notifications/<int:notification_id>/read": {
        "POST": Case(Action.NOTIFICATION_VIEW, 200, expect={"bob": 404, "dave": 404})
    },
    # billing: owners, admins and the billing role (Stripe is not configured in the matrix: a
    # top-up is 503 billing_unavailable, pay-as-you-go 400 plan_unavailable, for whoever may)
    "api/billing/balance": {"GET": Case(Action.BILLING_VIEW, 200)},
    "api/billing/ledger": {"GET": Case(Action.BILLING_VIEW, 200, lists="ledger")},
    "api/billing/ledger/export": {"GET": Case(Action.BILLING_VIEW, 200)},
    "api/billing/plan": {
        "GET": Case(Action.BILLING_VIEW, 200),
        "PUT": Case(Action.BILLING_MANAGE, 200, {"plan": "prepaid"}),
    },
    "api/billing/invoices": {"GET": Case(Action.BILLING_VIEW, 200)},
    "api/billing/topup": {"POST": Case(Action.BILLING_MANAGE, 503, {"amount_usd": "10.00"})},
    "api/billing/subscription": {"POST": Case(Action.BILLING_MANAGE, 400)},
    "api/billing/redeem": {"POST": Case(Action.BILLING_MANAGE, 200, {"code": "AUTHZ-CODE"})},
    # the caller's own organizations (no header): everyone sees only their own
    "api/organizations/": {
        "GET": Case(None, 200, lists="organization", scoped=False),
        "POST": Case(None, 201, {"name": "New team"}, scoped=False),
    },
}

# Path parameter → the org A object it names in the matrix.
PATH_OBJECTS: dict[str, Callable[[World], str]] = {
    "key_id": lambda w: str(w.alice_key.pk),
    "user_id": lambda w: str(w.users["dave"].pk),
    "invitation_id": lambda w: str(w.invitation_a.pk),
    "notification_id": lambda w: str(w.notification_a.pk),
    "client_id": lambda w: w.app_a,
}

# Routes that are not organization-scoped, by prefix, with the reason.
EXCLUDED: dict[str, str] = {
    "admin/": "the operators' site: staff only, Django's own permissions (accounts/tests/test_admin.py)",
    "api/auth/": "the caller's own account and session (accounts/tests/test_signup.py, test_login.py)",
    "api/invitations/accept": "not scoped: the token names the organization (accounts/tests/test_organizations.py)",
    "api/health": "liveness probe, no data",
    "metrics": "Prometheus scrapes, internal: never routed by nginx (stack/tests/test_metrics.py)",
    "api/schema/": "the OpenAPI document",
    "api/docs/": "the API docs page",
    "api/redoc/": "the API docs page",
    "api/webhooks/": "signed webhooks, no session: the usage shipper's (webhooks/tests), Stripe's (billing/tests)",
    "o/": "the OAuth2 / OpenID Connect provider: the user's own consent and tokens (oauth/tests)",
    ".well-known/": "OAuth / OpenID discovery documents, public",
}


def build_world() -> World:
    """alice owns org A (bob viewer, dave member); charlie owns org B; each org has a key, an
    invitation, an OAuth app and audit entries."""
    users = {
        name: User.objects.create_user(email=f"{name}@authz.example", password=None) for name in (*PERSONAS, OUTSIDER)
    }
    org_a = organization_create(name="Org A", owner=users["alice"])
    membership_set(organization=org_a, user=users["bob"], role="viewer")
    membership_set(organization=org_a, user=users["dave"], role="member")
    org_b = organization_create(name="Org B", owner=users["charlie"])
    alice_key = key_issue(organization=org_a, created_by=users["alice"], name="alice's").key
    dave_key = key_issue(organization=org_a, created_by=users["dave"], name="dave's").key
    charlie_key = key_issue(organization=org_b, created_by=users["charlie"], name="charlie's").key
    invitation_a = _invitation(org_a, users["alice"], "invited-a@example.com")
    invitation_b = _invitation(org_b, users["charlie"], "invited-b@example.com")
    for org, user in ((org_a, users["alice"]), (org_b, users["charlie"])):
        audit_record(action=AuditAction.LIMITS_CHANGED, actor=user, org_id=org.id, target=org)

    def audit_ids(org: Organization) -> set[str]:
        return {str(i) for i in AuditEvent.objects.filter(org_id=org.id).values_list("id", flat=True)}

    calls = {org: _usage(org, keys) for org, keys in ((org_a, (alice_key, dave_key)), (org_b, (charlie_key,)))}
    notes = {org: Notification.objects.create(organization=org, recipient=user, kind="test", title="t", body="b")
             for org, user in ((org_a, users["alice"]), (org_b, users["charlie"]))}  # fmt: skip

    apps = {org: _app(org, owner) for org, owner in ((org_a, users["alice"]), (org_b, users["charlie"]))}
    RedemptionCode.objects.create(code="AUTHZ-CODE", amount=Decimal("1.00"), max_uses=10)
    ledger = {org: str(entry_append(organization=org, kind=EntryKind.ADJUSTMENT, amount=Decimal(1),
                                    reference=f"authz-{org.pk}", memo="authz")[0].pk)
              for org in (org_a, org_b)}  # fmt: skip
    world = World(users, org_a, org_b, alice_key, invitation_a, notes[org_a], apps[org_a])
    world.ids = {
        "key": {"A": {str(alice_key.pk), str(dave_key.pk)}, "B": {str(charlie_key.pk)}},
        "member": {"A": {str(users[n].pk) for n in PERSONAS}, "B": {str(users["charlie"].pk)}},
        "invitation": {"A": {str(invitation_a.pk)}, "B": {str(invitation_b.pk)}},
        "audit": {"A": audit_ids(org_a), "B": audit_ids(org_b)},
        "organization": {"A": {str(org_a.pk)}, "B": {str(org_b.pk)}},
        "log": {"A": calls[org_a], "B": calls[org_b]},
        "chat": {"A": calls[org_a], "B": calls[org_b]},
        "notification": {"A": {str(notes[org_a].pk)}, "B": {str(notes[org_b].pk)}},
        "app": {"A": {apps[org_a]}, "B": {apps[org_b]}},
        "ledger": {"A": {ledger[org_a]}, "B": {ledger[org_b]}},
    }
    return world


def _usage(org: Organization, keys: tuple[ApiKey, ...]) -> set[str]:
    """A call of each key, with its chat, through the ingest; returns their call ids."""
    chat = {"messages": [{"role": "user", "content": "hi"}], "response": None}
    records = [
        UsageRecord(call_id=f"authz-{key.pk}", org_id=str(org.pk), key_id=str(key.pk), user_id=None, model="tiny",
                    deployment_id=None, prompt_tokens=3, completion_tokens=2, latency_ms=1.0, ttft_ms=None,
                    status="success", error_type=None, stream=False, end_user=None, created_at=time.time(), chat=chat)
        for key in keys
    ]  # fmt: skip
    request_logs_ingest(records=records)
    return {r.call_id for r in records}


def _app(org: Organization, owner: User) -> str:
    """A confidential OAuth app of the organization; returns its client id."""
    ctx = OrgContext(user=owner, organization=org, role="owner")
    callback = ["https://app.example/callback"]
    registered = app_register(ctx=ctx, name=f"{org.name} app", client_type="confidential", redirect_uris=callback)
    return str(registered.app.application.client_id)


def _invitation(org: Organization, inviter: User, email: str) -> Invitation:
    return Invitation.objects.create(
        organization=org,
        email=email,
        role="member",
        token_hash=email.encode().hex().ljust(64, "0")[:64],
        invited_by=inviter,
        expires_at=timezone.now() + timedelta(days=1),
    )
