"""Celery tasks of the usage app: thin wrappers around services. Every one is idempotent and
safe to retry (tasks are acknowledged late: a worker killed mid-task has it redelivered)."""

from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from usage.alerts import alert_email_send
from usage.alerts import check_budgets as _check_budgets
from usage.budgets import reservations_purge, scopes_spend, spend_rebuild, spend_reconcile
from usage.gpu_cost import gpu_cost_allocate as _gpu_cost_allocate
from usage.partitions import partitions_ensure
from usage.retention import retention_apply as _retention_apply
from usage.rollups import aggregate_usage


@shared_task(ignore_result=True)
def budgets_reconcile() -> dict[str, int]:
    """Beat: correct Redis budget counters from request_logs and report the drift."""
    return spend_reconcile()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def spend_rebuild_scopes(*scopes: str) -> int:
    """A budget changed: rebuild these scopes' counters (flat ``scope, id, scope, id, …``)."""
    pairs = list(zip(scopes[0::2], scopes[1::2], strict=True))
    return spend_rebuild(scopes_spend(pairs))


@shared_task(ignore_result=True)
def reservations_expire() -> int:
    """Beat: give back expired reservations even when no request comes to do it."""
    return reservations_purge()


@shared_task(ignore_result=True)
def aggregate_daily_usage() -> dict[str, object]:
    """Beat: recompute the hour, day and month rollups of every hour that got new request logs."""
    return asdict(aggregate_usage())


@shared_task(ignore_result=True)
def check_budgets() -> dict[str, int]:
    """Beat: alert at 90 % and 100 % of every budget (once per scope and period), block at 100 %."""
    return asdict(_check_budgets())


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=20)
def budget_alert_email(alert_id: int) -> int:
    """Email one budget alert (retried while the mail server refuses)."""
    return alert_email_send(alert_id=alert_id)


@shared_task(ignore_result=True)
def partitions_maintain() -> list[str]:
    """Beat: create request_logs partitions for the coming months."""
    return partitions_ensure(ahead=settings.PARTITIONS_AHEAD)


@shared_task(ignore_result=True)
def retention_apply() -> dict[str, object]:
    """Beat: drop or delete request logs and chats past their retention."""
    return asdict(_retention_apply())


@shared_task(ignore_result=True)
def gpu_cost_allocate() -> int:
    """Beat: give the calls of closed windows their GPU-seconds and internal cost."""
    return sum(a.calls for a in _gpu_cost_allocate())
