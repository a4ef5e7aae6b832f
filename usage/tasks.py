from celery import shared_task

from usage.budgets import reservations_purge, spend_reconcile


@shared_task(ignore_result=True)
def budgets_reconcile() -> dict[str, int]:
    """Beat: correct Redis budget counters from request_logs and report the drift."""
    return spend_reconcile()


@shared_task(ignore_result=True)
def reservations_expire() -> int:
    """Beat: give back expired reservations even when no request comes to do it."""
    return reservations_purge()
