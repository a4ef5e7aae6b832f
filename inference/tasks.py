from celery import shared_task

from inference.publishing import snapshot_reconcile as _snapshot_reconcile


@shared_task(ignore_result=True)
def snapshot_reconcile() -> str:
    """Beat: republish keys and catalog when Redis lost them (see inference.publishing)."""
    return _snapshot_reconcile()
