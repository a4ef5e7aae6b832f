"""How usage follows key events (keys/signals.py), connected in UsageConfig.ready."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from keys.signals import budgets_changed, snapshot_republishing
from usage.budgets import spend_rebuild
from usage.signals import budget_alert_created
from usage.tasks import budget_alert_email, spend_rebuild_scopes


@receiver(budgets_changed)
def queue_budget_rebuild(*, scopes: list[tuple[str, str]], **_: Any) -> None:
    """Rebuild the counters of these scopes only, from the queue after the commit: a request
    never recounts budgets. If the broker is down the periodic reconcile catches up (robust)."""
    if scopes:
        flat = [part for scope in scopes for part in scope]
        transaction.on_commit(lambda: spend_rebuild_scopes.delay(*flat), robust=True)


@receiver(snapshot_republishing)
def rebuild_every_budget(**_: Any) -> None:
    """Redis lost its state: every budget counter from PostgreSQL, before the proxy is told."""
    spend_rebuild()


@receiver(budget_alert_created)
def queue_alert_email(*, alert_id: int, **_: Any) -> None:
    transaction.on_commit(lambda: budget_alert_email.delay(alert_id))
