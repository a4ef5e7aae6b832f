"""How keys follows account events (accounts/signals.py), connected in KeysConfig.ready."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.models import Organization, User
from accounts.signals import organization_changed, organization_deleting, user_admission_changed
from keys.models import ApiKey
from keys.services import budgets_changed_on_commit, publish_organization_on_commit, withdraw_on_commit


@receiver(organization_changed)
def republish_changed_organization(*, organization: Organization, fields: set[str], **_: Any) -> None:
    publish_organization_on_commit(organization.id)
    budgets_changed_on_commit(organization, fields)


@receiver(organization_deleting)
def withdraw_deleted_organizations_keys(*, organization: Organization, **_: Any) -> dict[str, object]:
    """Its keys go with it (cascade): their snapshots leave Redis after the commit."""
    keys = ApiKey.objects.filter(organization=organization).values_list("secret_hash", "previous_secret_hash")
    pairs = list(keys)
    withdraw_on_commit([h for pair in pairs for h in pair if h])
    return {"keys": len(pairs)}


@receiver(user_admission_changed)
def republish_personal_keys(*, user: User, **_: Any) -> None:
    for org_id in Organization.objects.filter(personal_for=user).values_list("id", flat=True):
        publish_organization_on_commit(org_id)
