"""The role matrix: what each organization role may do. Every permission check reads this table."""

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    BILLING = "billing"


class Action(StrEnum):
    KEY_CREATE = "key.create"
    KEY_LIST = "key.list"  # members see the keys they created; owners and admins all keys
    KEY_MANAGE_OWN = "key.manage_own"
    KEY_MANAGE_ANY = "key.manage_any"
    MODEL_LIST = "model.list"
    LIMITS_VIEW = "limits.view"
    LIMITS_MANAGE = "limits.manage"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: frozenset(
        {Action.KEY_CREATE, Action.KEY_LIST, Action.KEY_MANAGE_OWN, Action.MODEL_LIST, Action.LIMITS_VIEW}
    ),
    Role.VIEWER: frozenset({Action.MODEL_LIST, Action.LIMITS_VIEW}),
    Role.BILLING: frozenset({Action.MODEL_LIST, Action.LIMITS_VIEW}),
}


def role_allows(role: str, action: Action) -> bool:
    return action in PERMISSIONS.get(Role(role), frozenset())
