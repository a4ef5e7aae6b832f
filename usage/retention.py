"""Retention of request logs and chats: the platform keeps at most ``LOG_RETENTION_DAYS`` and
``CHAT_RETENTION_DAYS``; an organization may keep less (its RetentionPolicy).

Whole monthly partitions older than the platform's limit are dropped (or detached, to archive
them); an organization's shorter retention deletes its rows in batches. Rollups are kept: usage
summaries of old periods still work after their logs are gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from usage.models import RetentionPolicy
from usage.partitions import DEFAULT, partitions_drop_before

log = logging.getLogger(__name__)
BATCH = 10_000


@dataclass(frozen=True)
class RetentionResult:
    partitions_removed: list[str]
    logs_deleted: int
    chats_deleted: int


def delete_batched(table: str, where: str, params: list[Any] | dict[str, Any], *, batch: int = BATCH) -> int:
    """DELETE the matching rows in batches (short transactions, no long lock), returning the count."""
    total = 0
    sql = (
        f"DELETE FROM {table} WHERE (id, created_at) IN "
        f"(SELECT id, created_at FROM {table} WHERE {where} LIMIT {int(batch)})"
    )
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch:
            return total


def effective_days(policy: RetentionPolicy | None) -> tuple[int, int]:
    """(log days, chat days) for an organization: its own, capped by the platform's."""
    logs, chats = settings.LOG_RETENTION_DAYS, settings.CHAT_RETENTION_DAYS
    if policy is not None:
        logs = min(logs, policy.log_retention_days or logs)
        chats = min(chats, policy.chat_retention_days or chats)
    return logs, chats


def retention_apply(*, now: datetime | None = None) -> RetentionResult:
    """Drop what is older than the platform keeps, then what each organization keeps less of."""
    now = now or timezone.now()
    log_cutoff = now - timedelta(days=settings.LOG_RETENTION_DAYS)
    chat_cutoff = now - timedelta(days=settings.CHAT_RETENTION_DAYS)
    removed = partitions_drop_before(log_cutoff, detach_only=settings.RETENTION_DETACH_ONLY)
    logs = delete_batched(DEFAULT, "created_at < %s", [log_cutoff])
    chats = delete_batched("chat_history", "created_at < %s", [chat_cutoff])
    for policy in RetentionPolicy.objects.all():
        log_days, chat_days = effective_days(policy)
        if log_days < settings.LOG_RETENTION_DAYS:
            logs += delete_batched(
                "request_logs",
                "org_id = %s AND created_at < %s",
                [policy.organization_id, now - timedelta(days=log_days)],
            )
        if chat_days < settings.CHAT_RETENTION_DAYS:
            chats += delete_batched(
                "chat_history",
                "org_id = %s AND created_at < %s",
                [policy.organization_id, now - timedelta(days=chat_days)],
            )
    if removed or logs or chats:
        log.info("retention: %d partitions removed, %d log rows and %d chats deleted", len(removed), logs, chats)
    return RetentionResult(removed, logs, chats)
