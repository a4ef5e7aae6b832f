"""Reads of accounts: the caller's organizations, an organization's members and invitations."""

import uuid

from django.db.models import QuerySet

from accounts.context import OrgContext
from accounts.models import Invitation, Membership, User
from accounts.roles import Action
from llmaas.errors import NotFound


def memberships_of(*, user: User) -> QuerySet[Membership]:
    """The user's organizations (with their role in each), personal one first."""
    return Membership.objects.filter(user=user).select_related("organization")


def members_list(*, ctx: OrgContext) -> QuerySet[Membership]:
    ctx.require(Action.MEMBER_LIST)
    return Membership.objects.filter(organization=ctx.organization).select_related("user")


def member_get(*, ctx: OrgContext, user_id: uuid.UUID) -> Membership:
    ctx.require(Action.MEMBER_LIST)
    membership = (
        Membership.objects.filter(organization=ctx.organization, user_id=user_id).select_related("user").first()
    )
    if membership is None:
        raise NotFound("No such member in this organization.", code="member_not_found")
    return membership


def invitations_open(*, ctx: OrgContext) -> QuerySet[Invitation]:
    """Invitations not accepted nor withdrawn (pending, or expired unanswered)."""
    ctx.require(Action.MEMBER_MANAGE)
    return Invitation.objects.filter(
        organization=ctx.organization, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")
