"""Django → Redis: publishes key snapshots and the model catalog for the proxy (see contract.py).

Writes happen after the PostgreSQL commit (callers use ``transaction.on_commit``); PostgreSQL
stays the source of truth, and `snapshot_publish_all` rebuilds everything from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from django.utils import timezone

from inference.proxy.contract import (
    EVENT_CATALOG,
    EVENT_FLUSH,
    EVENT_KEY,
    NANO_PER_USD,
    Catalog,
    CatalogModel,
    KeySnapshot,
    RedisKeys,
    ScopeLimits,
    encode_event,
)
from llmaas.limits import Limits

if TYPE_CHECKING:
    from keys.models import ApiKey

log = logging.getLogger(__name__)
BATCH = 1000


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def redis_keys() -> RedisKeys:
    return RedisKeys(settings.REDIS_PREFIX)


NO_MODEL = "-"  # an allowlist naming no real model: key and organization allowlists do not meet


def scope_limits(scope: str, owner: Limits, scope_id: str) -> ScopeLimits:
    return ScopeLimits(
        scope=scope,
        id=scope_id,
        budget_nano=None if owner.budget_usd is None else int(owner.budget_usd * NANO_PER_USD),
        budget_period=owner.budget_period,
        rpm=owner.rpm,
        tpm=owner.tpm,
        max_parallel=owner.max_parallel,
    )


def effective_models(key_models: list[str], org_models: list[str]) -> tuple[str, ...]:
    """Key ∩ organization allowlists (empty: every model)."""
    if key_models and org_models:
        both = [m for m in key_models if m in set(org_models)]
        return tuple(both) or (NO_MODEL,)
    return tuple(key_models or org_models)


# What a key publish reads with the key: its organization and, for a personal one, its user.
KEY_RELATED = ("organization", "organization__personal_for")


def key_snapshot(key: ApiKey, *, expires_at: datetime | None = None) -> KeySnapshot | None:
    """The snapshot the proxy admits this key by, or None if the key must not be admitted.

    A personal organization's keys are admitted only while its user is active and approved;
    a team organization's keys outlive (and ignore) the state of the user who created them.
    """
    if key.revoked_at is not None:
        return None
    org = key.organization
    if org.personal_for_id is not None and not org.personal_for.keys_admitted:  # type: ignore[union-attr]
        return None
    expiry = min((t for t in (key.expires_at, expires_at) if t is not None), default=None)
    return KeySnapshot(
        key_id=str(key.id),
        org_id=str(key.organization_id),
        user_id=str(key.created_by_id or ""),
        models=effective_models(key.allowed_models, org.allowed_models),
        expires_at=expiry.timestamp() if expiry else None,
        store_chats=key.store_chats,
        scopes=(scope_limits("key", key, str(key.id)), scope_limits("org", org, str(org.id))),
        timezone=org.timezone,
    )


def _in_grace(key: ApiKey, now: datetime) -> bool:
    """Whether the key's previous secret (after a rotation) still works."""
    end = key.previous_secret_expires_at
    return bool(key.previous_secret_hash) and end is not None and end > now


def _write_key(pipe: redis.client.Pipeline, key: ApiKey, now: datetime) -> list[str]:
    """Queue the SETs/DELs of one key's snapshots (current secret, and the previous one in its
    grace); returns the Redis names it publishes (not those it withdraws)."""
    keys = redis_keys()
    published: list[str] = []
    snapshot = key_snapshot(key)
    if snapshot is None:
        pipe.delete(keys.key(key.secret_hash))
    else:
        pipe.set(keys.key(key.secret_hash), snapshot.to_json())
        published.append(keys.key(key.secret_hash))
    if not key.previous_secret_hash:
        return published
    grace_end = key.previous_secret_expires_at
    previous = key_snapshot(key, expires_at=grace_end) if _in_grace(key, now) else None
    if previous is None or grace_end is None:
        pipe.delete(keys.key(key.previous_secret_hash))
    else:  # Redis drops it when the grace ends; the hook checks the expiry too
        pipe.set(keys.key(key.previous_secret_hash), previous.to_json(), exat=grace_end)
        published.append(keys.key(key.previous_secret_hash))
    return published


def key_publish(key: ApiKey) -> None:
    """Publish (or withdraw) one key's snapshots and tell every proxy worker to drop its copies."""
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=True)
    _write_key(pipe, key, timezone.now())
    for key_hash in filter(None, (key.secret_hash, key.previous_secret_hash)):
        pipe.publish(keys.events, encode_event(EVENT_KEY, key_hash))
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
                max_output_tokens=m.max_output_tokens,
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
    queryset = ApiKey.objects.filter(revoked_at__isnull=True).select_related(*KEY_RELATED)
    for i, key in enumerate(queryset.iterator(chunk_size=BATCH), start=1):
        active.update(_write_key(pipe, key, started))
        if i % BATCH == 0:
            pipe.execute()
    pipe.execute()
    from usage.budgets import spend_rebuild

    spend_rebuild()
    stale = (name.decode() for name in client.scan_iter(match=keys.key_pattern, count=BATCH))
    for batch in _batched((name for name in stale if name not in active), BATCH):
        client.delete(*batch)
    client.set(keys.catalog, catalog_build().to_json())
    revoked_meanwhile = withdraw_recently_revoked(since=started - timedelta(seconds=60))
    revoked_meanwhile += withdraw_unadmitted_personal()
    client.set(keys.epoch, str(time.time()))
    client.publish(keys.events, encode_event(EVENT_FLUSH))
    log.info("published %d key snapshots (%d withdrawn after a concurrent revoke)", len(active), revoked_meanwhile)
    return len(active)


def withdraw_recently_revoked(*, since: object) -> int:
    """Delete the snapshots of keys revoked since ``since`` (guards against publish races)."""
    from keys.models import ApiKey

    revoked = ApiKey.objects.filter(revoked_at__gte=since).values_list("secret_hash", "previous_secret_hash")
    hashes = [h for pair in revoked for h in pair if h]
    if not hashes:
        return 0
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=False)
    for key_hash in hashes:
        pipe.delete(keys.key(key_hash))
        pipe.publish(keys.events, encode_event(EVENT_KEY, key_hash))
    pipe.execute()
    return len(hashes)


def withdraw_unadmitted_personal() -> int:
    """Delete any snapshot of a personal organization's key whose user is deactivated or not
    approved (guards against a full publish that read the user just before the change)."""
    from django.db.models import Q

    from keys.models import ApiKey

    unadmitted = ApiKey.objects.filter(revoked_at__isnull=True, organization__personal_for__isnull=False).filter(
        Q(organization__personal_for__is_active=False) | Q(organization__personal_for__approved_at__isnull=True)
    )
    hashes = [h for pair in unadmitted.values_list("secret_hash", "previous_secret_hash") for h in pair if h]
    if not hashes:
        return 0
    keys = redis_keys()
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    for key_hash in hashes:
        pipe.delete(keys.key(key_hash))
    existed = [key_hash for key_hash, deleted in zip(hashes, pipe.execute(), strict=True) if deleted]
    for key_hash in existed:  # only workers that may hold a copy need telling
        pipe.publish(keys.events, encode_event(EVENT_KEY, key_hash))
    pipe.execute()
    return len(existed)


def snapshot_reconcile() -> str:
    """Periodic check: a Redis without the epoch (restarted empty) gets a full republish."""
    if redis_client().exists(redis_keys().epoch):
        withdraw_recently_revoked(since=timezone.now() - timedelta(minutes=10))
        withdraw_unadmitted_personal()
        return "present"
    snapshot_publish_all()
    return "republished"
