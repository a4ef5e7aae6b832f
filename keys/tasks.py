"""Celery tasks of the keys app: thin wrappers around services, safe to retry."""

import contextlib
import uuid
from datetime import UTC, datetime

from celery import shared_task

from inference.proxy.contract import EVENT_KEY, encode_event
from inference.publishing import KEY_RELATED, key_publish, redis_client, redis_keys
from keys.models import ApiKey
from keys.services import keys_last_used_record


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def key_sync(key_id: str) -> None:
    """Publish the key's current state (re-read from PostgreSQL, so a late retry never resurrects it)."""
    key = ApiKey.objects.filter(pk=uuid.UUID(key_id)).select_related(*KEY_RELATED).first()
    if key is not None:
        key_publish(key)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def organization_sync(org_id: str) -> int:
    """Republish every live key of an organization (its limits, zone or models changed, or its
    personal user was approved, deactivated or reactivated)."""
    keys = ApiKey.objects.filter(organization_id=uuid.UUID(org_id), revoked_at__isnull=True)
    count = 0
    for key in keys.select_related(*KEY_RELATED).iterator(chunk_size=500):
        key_publish(key)
        count += 1
    return count


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def spend_sync() -> int:
    """Budget counters of the current periods from request_logs (a budget was set or changed)."""
    from usage.budgets import spend_rebuild

    return spend_rebuild()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=30, max_retries=None)
def snapshot_withdraw(key_hash: str) -> None:
    """Remove one secret's snapshot (a previous secret replaced before its grace ended)."""
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(keys.key(key_hash))
    pipe.publish(keys.events, encode_event(EVENT_KEY, key_hash))
    pipe.execute()


@shared_task
def last_used_flush() -> int:
    """Move the proxy's last-used times from Redis to PostgreSQL (no write per request)."""
    client, name = redis_client(), redis_keys().last_used
    raw = client.hgetall(name)
    if not raw:
        return 0
    used: dict[str, datetime] = {}
    for key_id, stamp in raw.items():
        with contextlib.suppress(ValueError):  # not ours: skip
            used[str(uuid.UUID(_text(key_id)))] = datetime.fromtimestamp(int(stamp), tz=UTC)
    updated = keys_last_used_record(used=used)
    # Remove only what we stored; a newer time written meanwhile stays for the next flush.
    pipe = client.pipeline(transaction=False)
    for key_id, stamp in raw.items():
        pipe.eval(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end",
            1,
            name,
            key_id,
            stamp,
        )
    pipe.execute()
    return updated
