"""Organizations, memberships and invitations. Each service owns its transaction and writes its
audit entry; role checks go through ``OrgContext.require`` (accounts/roles.py is the matrix).

Invariants kept here:
- an organization always has an owner: the last owner can neither leave, nor be removed, nor
  be demoted (membership changes lock the organization's row, so concurrent ones queue);
- only owners touch owners (grant or take the owner role, remove an owner, invite one);
- a personal organization belongs to its user alone: it has no other members or invitations,
  cannot be left, transferred or deleted (it goes with the account).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.context import OrgContext, require_active_account
from accounts.models import Invitation, Membership, Organization, User
from accounts.roles import Action, Role
from accounts.signals import organization_deleting
from accounts.tasks import enqueue_on_commit, mail_invitation
from accounts.tokens import new_token, token_hash
from accounts.user_services import email_mark_verified
from audit.models import AuditAction
from audit.services import audit_record
from llmaas.errors import ApplicationError, Conflict, Forbidden, NotFound


def organization_create(*, name: str, owner: User) -> Organization:
    """A team organization with ``owner`` as its first owner."""
    with transaction.atomic():
        org = Organization.objects.create(name=name)
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
        audit_record(action=AuditAction.ORG_CREATED, actor=owner, org_id=org.id, target=org, details={"name": name})
    return org


def organization_create_by(*, user: User, name: str) -> Organization:
    """What ``POST /api/organizations/`` does: only accounts in good standing create organizations
    (a pending one could otherwise invite strangers by mail)."""
    require_active_account(user)
    return organization_create(name=name, owner=user)


def membership_set(*, organization: Organization, user: User, role: Role | str) -> Membership:
    """Add the user to the organization with this role, or change their role (no checks: for
    operators' scripts and tests; the API goes through the services below)."""
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": Role(role).value}
    )
    return membership


def _lock(ctx: OrgContext) -> Organization:
    """Lock the organization's row: membership changes of one organization run one at a time."""
    return Organization.objects.select_for_update().get(pk=ctx.organization.pk)


def _refuse_personal(org: Organization, what: str) -> None:
    if org.personal_for_id is not None:
        raise Conflict(f"A personal organization {what}.", code="personal_organization")


def _owners(org: Organization) -> int:
    return Membership.objects.filter(organization=org, role=Role.OWNER).count()


def _member(org: Organization, user_id: uuid.UUID) -> Membership:
    membership = Membership.objects.filter(organization=org, user_id=user_id).select_related("user").first()
    if membership is None:
        raise NotFound("No such member in this organization.", code="member_not_found")
    return membership


def _refuse_last_owner(org: Organization, membership: Membership) -> None:
    if membership.role == Role.OWNER and _owners(org) <= 1:
        raise Conflict(
            "The organization's last owner cannot leave, be removed or be demoted; "
            "make someone else an owner first (or transfer ownership).",
            code="last_owner",
        )


def organization_rename(*, ctx: OrgContext, name: str) -> Organization:
    ctx.require(Action.ORG_UPDATE)
    with transaction.atomic():
        org = _lock(ctx)
        if org.name != name:
            audit_record(
                action=AuditAction.ORG_RENAMED,
                actor=ctx.user,
                org_id=org.id,
                target=org,
                details={"from": org.name, "to": name},
            )
            org.name = name
            org.save(update_fields=["name"])
    return org


def organization_delete(*, ctx: OrgContext) -> None:
    """Delete a team organization with its keys, members and invitations (owners only). Its
    keys stop working at the proxy at once; its usage records and audit trail stay."""
    ctx.require(Action.ORG_DELETE)
    organization_delete_now(organization=ctx.organization, by=ctx.user)


def organization_delete_now(*, organization: Organization, by: User | None) -> None:
    """The deletion itself (also the admin's): the keys app withdraws every key snapshot after
    the commit (``organization_deleting``)."""
    _refuse_personal(organization, "goes with its account and cannot be deleted")
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        details: dict[str, object] = {"name": org.name}
        for _, reply in organization_deleting.send(sender=Organization, organization=org):
            if isinstance(reply, dict):
                details.update(reply)
        audit_record(action=AuditAction.ORG_DELETED, actor=by, org_id=org.id, target=org, details=details)
        org.delete()


def organization_transfer(*, ctx: OrgContext, to_user_id: uuid.UUID) -> Membership:
    """Make another member the owner; the caller becomes an admin. Atomic."""
    ctx.require(Action.ORG_TRANSFER)
    with transaction.atomic():
        org = _lock(ctx)
        _refuse_personal(org, "cannot be transferred")
        if to_user_id == ctx.user.pk:
            raise ApplicationError("You already own this organization.", code="transfer_to_self")
        target = _member(org, to_user_id)
        if not target.user.is_active:
            raise Conflict("This member's account is deactivated.", code="member_inactive")
        previous = target.role
        Membership.objects.filter(pk=target.pk).update(role=Role.OWNER)
        Membership.objects.filter(organization=org, user=ctx.user).update(role=Role.ADMIN)
        audit_record(
            action=AuditAction.ORG_OWNERSHIP_TRANSFERRED,
            actor=ctx.user,
            org_id=org.id,
            target=target.user,
            details={"to": target.user.email, "to_previous_role": previous, "from_new_role": Role.ADMIN.value},
        )
        target.role = Role.OWNER
    return target


def membership_role_change(*, ctx: OrgContext, user_id: uuid.UUID, role: Role) -> Membership:
    ctx.require(Action.MEMBER_MANAGE)
    with transaction.atomic():
        org = _lock(ctx)
        membership = _member(org, user_id)
        if membership.role == role:
            return membership
        if Role.OWNER in (membership.role, role):
            ctx.require(Action.MEMBER_MANAGE_OWNERS)
        _refuse_personal(org, "has only its owner")
        _refuse_last_owner(org, membership)
        audit_record(
            action=AuditAction.MEMBER_ROLE_CHANGED,
            actor=ctx.user,
            org_id=org.id,
            target=membership.user,
            details={"email": membership.user.email, "from": membership.role, "to": role.value},
        )
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, ctx: OrgContext, user_id: uuid.UUID) -> None:
    """Remove a member. The keys they created stay with the organization (revoke them if needed)."""
    ctx.require(Action.MEMBER_MANAGE)
    with transaction.atomic():
        org = _lock(ctx)
        membership = _member(org, user_id)
        if membership.role == Role.OWNER:
            ctx.require(Action.MEMBER_MANAGE_OWNERS)
        _refuse_last_owner(org, membership)
        audit_record(
            action=AuditAction.MEMBER_REMOVED,
            actor=ctx.user,
            org_id=org.id,
            target=membership.user,
            details={"email": membership.user.email, "role": membership.role},
        )
        membership.delete()


def membership_leave(*, ctx: OrgContext) -> None:
    ctx.require(Action.ORG_VIEW)
    with transaction.atomic():
        org = _lock(ctx)
        _refuse_personal(org, "cannot be left")
        membership = _member(org, ctx.user.pk)
        _refuse_last_owner(org, membership)
        audit_record(
            action=AuditAction.MEMBER_LEFT,
            actor=ctx.user,
            org_id=org.id,
            target=ctx.user,
            details={"role": membership.role},
        )
        membership.delete()


# --- invitations ---------------------------------------------------------------------------------
def invitation_create(*, ctx: OrgContext, email: str, role: Role) -> Invitation:
    """Invite an address with a role; a pending invitation to the same address is replaced."""
    ctx.require(Action.MEMBER_MANAGE)
    if role == Role.OWNER:
        ctx.require(Action.MEMBER_MANAGE_OWNERS)
    email = email.strip().lower()
    _, placeholder = new_token()  # never shown: the mail brings a token of its own (accounts/tasks.py)
    now = timezone.now()
    with transaction.atomic():
        org = _lock(ctx)
        _refuse_personal(org, "has no other members")
        if Membership.objects.filter(organization=org, user__email=email).exists():
            raise Conflict("This address is already a member.", code="already_member")
        superseded = Invitation.objects.filter(
            organization=org, email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            organization=org,
            email=email,
            role=role,
            token_hash=placeholder,
            invited_by=ctx.user,
            expires_at=now + timedelta(seconds=settings.INVITATION_TTL),
        )
        audit_record(
            action=AuditAction.MEMBER_INVITED,
            actor=ctx.user,
            org_id=org.id,
            target=invitation,
            details={"email": email, "role": role.value, "replaced": superseded},
        )
        enqueue_on_commit(mail_invitation, str(invitation.id))
    return invitation


def invitation_get(*, ctx: OrgContext, invitation_id: uuid.UUID) -> Invitation:
    invitation = Invitation.objects.filter(organization=ctx.organization, pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation in this organization.", code="invitation_not_found")
    return invitation


def invitation_revoke(*, ctx: OrgContext, invitation_id: uuid.UUID) -> Invitation:
    """Withdraw a pending invitation (idempotent); an accepted one is a membership now."""
    ctx.require(Action.MEMBER_MANAGE)
    with transaction.atomic():
        _lock(ctx)
        invitation = invitation_get(ctx=ctx, invitation_id=invitation_id)
        if invitation.role == Role.OWNER:
            ctx.require(Action.MEMBER_MANAGE_OWNERS)
        if invitation.accepted_at is not None:
            raise Conflict("This invitation was accepted; remove the member instead.", code="invitation_used")
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit_record(
                action=AuditAction.INVITATION_REVOKED,
                actor=ctx.user,
                org_id=invitation.organization_id,
                target=invitation,
                details={"email": invitation.email, "role": invitation.role},
            )
    return invitation


def _acceptable(token: str, user: User) -> Invitation:
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).select_related("organization").first()
    if invitation is None:
        raise ApplicationError("This invitation is not valid.", code="invitation_invalid")
    if invitation.accepted_at is not None:
        raise ApplicationError("This invitation has already been used.", code="invitation_used")
    if invitation.revoked_at is not None:
        raise ApplicationError("This invitation was withdrawn.", code="invitation_revoked")
    if invitation.expires_at <= timezone.now():
        raise ApplicationError("This invitation has expired; ask for a new one.", code="invitation_expired")
    if invitation.email != user.email:
        raise Forbidden(
            "This invitation was sent to another address; log in with that address to accept it.",
            code="invitation_wrong_email",
        )
    return invitation


def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the organization with the invited role. The invitation is used once, only by the
    account with the invited address (which thereby counts as verified)."""
    with transaction.atomic():
        invitation = _acceptable(token, user)
        org = Organization.objects.select_for_update().get(pk=invitation.organization_id)
        if Membership.objects.filter(organization=org, user=user).exists():
            raise Conflict("You are already a member of this organization.", code="already_member")
        now = timezone.now()
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=user)
        if not claimed:
            raise ApplicationError("This invitation has already been used.", code="invitation_used")
        membership = Membership.objects.create(organization=org, user=user, role=invitation.role)
        email_mark_verified(user)
        audit_record(
            action=AuditAction.MEMBER_JOINED,
            actor=user,
            org_id=org.id,
            target=user,
            details={"role": invitation.role, "invitation": str(invitation.id)},
        )
    return membership
