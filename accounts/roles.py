"""The role matrix: what each organization role may do. Every permission check reads this table.

owner: everything, including deleting the organization, transferring ownership and
       granting or taking the owner role (only owners touch owners).
admin: members (except owners), all keys, limits, OAuth apps, audit, usage and chats.
member: creates keys and manages the keys they created; sees the usage and chats of those keys.
viewer: reads usage and models; no keys.
billing: billing and usage; no keys.
"""

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    BILLING = "billing"


class Action(StrEnum):
    # Organization
    ORG_VIEW = "org.view"
    ORG_UPDATE = "org.update"  # rename
    ORG_DELETE = "org.delete"
    ORG_TRANSFER = "org.transfer"  # hand ownership to another member
    # Members and invitations
    MEMBER_LIST = "member.list"
    MEMBER_MANAGE = "member.manage"  # invite, remove, change roles, see pending invitations
    MEMBER_MANAGE_OWNERS = "member.manage_owners"  # grant or take the owner role, remove an owner
    # Keys
    KEY_CREATE = "key.create"
    KEY_LIST = "key.list"  # members see the keys they created; owners and admins all keys
    KEY_MANAGE_OWN = "key.manage_own"
    KEY_MANAGE_ANY = "key.manage_any"
    # Models and limits
    MODEL_LIST = "model.list"
    LIMITS_VIEW = "limits.view"
    LIMITS_MANAGE = "limits.manage"
    # Usage, chats, notifications, audit
    USAGE_VIEW_OWN = "usage.view_own"  # the usage of the keys one created
    USAGE_VIEW_ALL = "usage.view_all"  # the whole organization's usage
    CHAT_VIEW_OWN = "chat.view_own"  # chat history of the keys one created
    CHAT_VIEW_ALL = "chat.view_all"
    RETENTION_MANAGE = "retention.manage"  # how long logs and chats are kept; deleting chats
    NOTIFICATION_VIEW = "notification.view"
    AUDIT_VIEW = "audit.view"
    # Third-party OAuth apps ("Sign in with LLMaaS"): register, change, rotate secrets, delete
    APP_MANAGE = "app.manage"
    # Billing: balance, ledger, plan, invoices (view); top-ups, plan changes, codes (manage)
    BILLING_VIEW = "billing.view"
    BILLING_MANAGE = "billing.manage"


_EVERYONE = frozenset(
    {Action.ORG_VIEW, Action.MEMBER_LIST, Action.MODEL_LIST, Action.LIMITS_VIEW, Action.NOTIFICATION_VIEW}
)
_OWNER_ONLY = frozenset({Action.ORG_DELETE, Action.ORG_TRANSFER, Action.MEMBER_MANAGE_OWNERS})

# Actions that also need an account in good standing (email verified and approved by an
# operator), whatever the role: a pending account can look around but not spend.
NEEDS_ACTIVE_ACCOUNT = frozenset({Action.KEY_CREATE})

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action) - _OWNER_ONLY,
    Role.MEMBER: _EVERYONE
    | {
        Action.KEY_CREATE,
        Action.KEY_LIST,
        Action.KEY_MANAGE_OWN,
        Action.USAGE_VIEW_OWN,
        Action.CHAT_VIEW_OWN,
    },
    Role.VIEWER: _EVERYONE | {Action.USAGE_VIEW_ALL},
    Role.BILLING: _EVERYONE | {Action.USAGE_VIEW_ALL, Action.BILLING_VIEW, Action.BILLING_MANAGE},
}


def role_allows(role: str, action: Action) -> bool:
    return action in PERMISSIONS.get(Role(role), frozenset())
