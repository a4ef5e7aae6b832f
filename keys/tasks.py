"""Celery tasks of the keys app: thin wrappers around keys/publishing.py, safe to retry."""

from celery import shared_task

from keys import publishing


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def key_sync(key_id: str) -> None:
    """Publish the key's current state (re-read from PostgreSQL, so a late retry never resurrects it)."""
    publishing.key_republish(key_id)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def organization_sync(org_id: str) -> int:
    """Republish every live key of an organization."""
    return publishing.organization_republish(org_id)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def snapshot_withdraw(key_hash: str) -> None:
    """Remove one secret's snapshot (a previous secret replaced before its grace ended)."""
    publishing.snapshot_withdraw(key_hash)


@shared_task
def last_used_flush() -> int:
    """Beat: move the proxy's last-used times from Redis to PostgreSQL (no write per request)."""
    return publishing.last_used_flush()


@shared_task(ignore_result=True)
def snapshot_reconcile() -> str:
    """Beat: republish keys and catalog when Redis lost them."""
    return publishing.snapshot_reconcile()
