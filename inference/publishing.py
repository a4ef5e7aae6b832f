"""Django → Redis: publishes key snapshots and the model catalog for the proxy (see contract.py).

Writes happen after the PostgreSQL commit (callers use ``transaction.on_commit``); PostgreSQL
stays the source of truth, and `snapshot_publish_all` rebuilds everything from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from functools import cache

import redis
from django.conf import settings
from django.utils import timezone

from inference.proxy.contract import (
    EVENT_CATALOG,
    EVENT_FLUSH,
    EVENT_KEY,
    Catalog,
    CatalogModel,
    KeySnapshot,
    RedisKeys,
    encode_event,
)

log = logging.getLogger(__name__)
BATCH = 1000


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def redis_keys() -> RedisKeys:
    return RedisKeys(settings.REDIS_PREFIX)


def key_snapshot(key: object) -> KeySnapshot | None:
    """The snapshot the proxy admits this key by, or None if the key must not be admitted."""
    from keys.models import ApiKey

    assert isinstance(key, ApiKey)
    if key.revoked_at is not None:
        return None
    return KeySnapshot(
        key_id=str(key.id),
        org_id=str(key.organization_id),
        user_id=str(key.created_by_id or ""),
        models=tuple(key.allowed_models),
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        store_chats=key.store_chats,
    )


def key_publish(key: object) -> None:
    """Publish (or withdraw) one key's snapshot and tell every proxy worker to drop its copy."""
    from keys.models import ApiKey

    assert isinstance(key, ApiKey)
    keys = redis_keys()
    snapshot = key_snapshot(key)
    pipe = redis_client().pipeline(transaction=True)
    if snapshot is None:
        pipe.delete(keys.key(key.secret_hash))
    else:
        pipe.set(keys.key(key.secret_hash), snapshot.to_json())
    pipe.publish(keys.events, encode_event(EVENT_KEY, key.secret_hash))
    pipe.execute()


def catalog_build() -> Catalog:
    from inference.models import ServedModel

    return Catalog(
        models=tuple(
            CatalogModel(
                name=m.name,
                upstream_model=m.upstream_model,
                context_window=m.context_window,
                input_price_per_mtok=str(m.input_price_per_mtok),
                output_price_per_mtok=str(m.output_price_per_mtok),
            )
            for m in ServedModel.objects.filter(is_active=True).order_by("name")
        )
    )


def catalog_publish() -> None:
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=True)
    pipe.set(keys.catalog, catalog_build().to_json())
    pipe.publish(keys.events, encode_event(EVENT_CATALOG))
    pipe.execute()


def _batched(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def snapshot_publish_all() -> int:
    """Rebuild the whole snapshot from PostgreSQL: every active key, the catalog, then the epoch.

    Returns the number of keys published. Snapshots of keys that are no longer active are
    removed, and keys revoked while this ran are withdrawn again at the end, so a concurrent
    revocation is never undone.
    """
    from keys.models import ApiKey

    started = timezone.now()
    client = redis_client()
    keys = redis_keys()
    active: set[str] = set()
    pipe = client.pipeline(transaction=False)
    queryset = ApiKey.objects.filter(revoked_at__isnull=True).only(
        "id",
        "organization_id",
        "created_by_id",
        "allowed_models",
        "expires_at",
        "revoked_at",
        "secret_hash",
        "store_chats",
    )
    for i, key in enumerate(queryset.iterator(chunk_size=BATCH), start=1):
        snapshot = key_snapshot(key)
        if snapshot is None:
            continue
        active.add(keys.key(key.secret_hash))
        pipe.set(keys.key(key.secret_hash), snapshot.to_json())
        if i % BATCH == 0:
            pipe.execute()
    pipe.execute()
    stale = (name.decode() for name in client.scan_iter(match=keys.key_pattern, count=BATCH))
    for batch in _batched((name for name in stale if name not in active), BATCH):
        client.delete(*batch)
    client.set(keys.catalog, catalog_build().to_json())
    revoked_meanwhile = withdraw_recently_revoked(since=started - timedelta(seconds=60))
    client.set(keys.epoch, str(time.time()))
    client.publish(keys.events, encode_event(EVENT_FLUSH))
    log.info("published %d key snapshots (%d withdrawn after a concurrent revoke)", len(active), revoked_meanwhile)
    return len(active)


def withdraw_recently_revoked(*, since: object) -> int:
    """Delete the snapshots of keys revoked since ``since`` (guards against publish races)."""
    from keys.models import ApiKey

    hashes = list(ApiKey.objects.filter(revoked_at__gte=since).values_list("secret_hash", flat=True))
    if not hashes:
        return 0
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=False)
    for key_hash in hashes:
        pipe.delete(keys.key(key_hash))
        pipe.publish(keys.events, encode_event(EVENT_KEY, key_hash))
    pipe.execute()
    return len(hashes)


def snapshot_reconcile() -> str:
    """Periodic check: a Redis without the epoch (restarted empty) gets a full republish."""
    if redis_client().exists(redis_keys().epoch):
        withdraw_recently_revoked(since=timezone.now() - timedelta(minutes=10))
        return "present"
    snapshot_publish_all()
    return "republished"
