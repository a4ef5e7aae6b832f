"""How billing follows events of the apps below it, connected in BillingConfig.ready."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from accounts.signals import organization_deleting
from billing.wallet import wallet_sync, wallets_rebuild
from keys.signals import snapshot_republishing


@receiver(snapshot_republishing)
def rebuild_every_wallet(**_: Any) -> None:
    """Redis lost its state: every prepaid wallet from PostgreSQL, before the proxy is told."""
    wallets_rebuild()


@receiver(organization_deleting)
def drop_wallet(*, organization: Any, **_: Any) -> None:
    org_id = organization.pk
    transaction.on_commit(lambda: wallet_sync(org_id), robust=True)
