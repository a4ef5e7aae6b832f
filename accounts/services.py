from django.db import transaction

from accounts.models import Membership, Organization, User
from accounts.roles import Role


def organization_create_personal(*, user: User) -> Organization:
    """The user's personal organization, with the user as its owner."""
    with transaction.atomic():
        org = Organization.objects.create(name=f"{user.email} (personal)", personal_for=user)
        Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    return org


def organization_create(*, name: str, owner: User) -> Organization:
    with transaction.atomic():
        org = Organization.objects.create(name=name)
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    return org


def membership_set(*, organization: Organization, user: User, role: Role | str) -> Membership:
    """Add the user to the organization with this role, or change their role."""
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": Role(role).value}
    )
    return membership
