"""The current organization of an API request, and the one place roles are checked.

The organization comes from the ``LLMaaS-Organization`` header (an organization id) and
defaults to the caller's personal organization. Someone outside the organization gets 404
(its existence is not revealed); a member whose role lacks the action gets 403.
"""

import uuid
from dataclasses import dataclass

from rest_framework.request import Request

from accounts.models import Membership, Organization, User
from accounts.roles import NEEDS_ACTIVE_ACCOUNT, Action, role_allows
from llmaas.errors import ApplicationError, Forbidden, NotFound

ORG_HEADER = "LLMaaS-Organization"


@dataclass(frozen=True)
class OrgContext:
    user: User
    organization: Organization
    role: str

    def allows(self, action: Action) -> bool:
        return role_allows(self.role, action)

    def require(self, action: Action) -> None:
        """403 unless the role allows the action (and, for spending actions, the account is active)."""
        if not self.allows(action):
            raise Forbidden(
                f"Your role in this organization ({self.role}) does not allow {action.value}.",
                details={"role": self.role, "action": action.value},
            )
        if action in NEEDS_ACTIVE_ACCOUNT:
            require_active_account(self.user)


def require_active_account(user: User) -> None:
    """403 for an account an operator has not approved yet, or whose email is not verified."""
    status = user.account_status
    if status == "pending_approval":
        raise Forbidden(
            "Your account is waiting for an operator's approval.",
            code="account_pending_approval",
            details={"status": user.account_status},
        )
    if status == "pending_verification":
        raise Forbidden(
            "Confirm your email address first (see the mail we sent you, or ask for a new one).",
            code="email_not_verified",
            details={"status": user.account_status},
        )


def request_user(request: Request) -> User:
    """The logged-in user of an API request (views are behind IsAuthenticated)."""
    user = request.user
    assert isinstance(user, User)
    return user


def org_context(request: Request) -> OrgContext:
    user = request_user(request)
    memberships = Membership.objects.select_related("organization").filter(user=user)
    header = request.headers.get(ORG_HEADER, "").strip()
    if header:
        try:
            org_id = uuid.UUID(header)
        except ValueError:
            raise ApplicationError(
                f"The {ORG_HEADER} header must be an organization id (a UUID).", code="invalid_organization_id"
            ) from None
        membership = memberships.filter(organization_id=org_id).first()
    else:
        membership = memberships.filter(organization__personal_for=user).first()
    if membership is None:
        raise NotFound("No such organization.", code="organization_not_found")
    return OrgContext(user=user, organization=membership.organization, role=membership.role)
