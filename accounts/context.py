"""The current organization of an API request, and the one place roles are checked.

The organization comes from the ``LLMaaS-Organization`` header (an organization id) and
defaults to the caller's personal organization. Someone outside the organization gets 404
(its existence is not revealed); a member whose role lacks the action gets 403.
"""

import uuid
from dataclasses import dataclass

from rest_framework.request import Request

from accounts.models import Membership, Organization, User
from accounts.roles import Action, role_allows
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
        if not self.allows(action):
            raise Forbidden(
                f"Your role in this organization ({self.role}) does not allow {action.value}.",
                details={"role": self.role, "action": action.value},
            )


def org_context(request: Request) -> OrgContext:
    user = request.user
    assert isinstance(user, User)
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
