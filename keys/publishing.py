"""Django → Redis: key snapshots for the proxy (see inference/proxy/contract.py).

Writes happen after the PostgreSQL commit (services use ``transaction.on_commit``); PostgreSQL
stays the source of truth, and ``snapshot_publish_all`` rebuilds everything from it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import redis
from django.db.models import Q
from django.utils import timezone

from inference.proxy.contract import EVENT_FLUSH, EVENT_KEY, NANO_PER_USD, KeySnapshot, ScopeLimits, encode_event
from inference.publishing import catalog_build
from keys.models import ApiKey
from keys.signals import snapshot_republishing
from llmaas.limits import Limits
from llmaas.redis_client import redis_client, redis_keys, redis_pipeline_for_publish, redis_write_and_publish

log = logging.getLogger(__name__)
BATCH = 1000


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
    pipe = redis_pipeline_for_publish()
    _write_key(pipe, key, timezone.now())
    events = [encode_event(EVENT_KEY, h) for h in filter(None, (key.secret_hash, key.previous_secret_hash))]
    redis_write_and_publish(pipe, keys.events, events)


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
    snapshot_republishing.send(sender=ApiKey)  # budgets rebuild their counters before the epoch says "ready"
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
    revoked = ApiKey.objects.filter(revoked_at__gte=since).values_list("secret_hash", "previous_secret_hash")
    hashes = [h for pair in revoked for h in pair if h]
    if not hashes:
        return 0
    keys = redis_keys()
    pipe = redis_pipeline_for_publish()
    for key_hash in hashes:
        pipe.delete(keys.key(key_hash))
    redis_write_and_publish(pipe, keys.events, [encode_event(EVENT_KEY, key_hash) for key_hash in hashes])
    return len(hashes)


def withdraw_unadmitted_personal() -> int:
    """Delete any snapshot of a personal organization's key whose user is deactivated or not
    approved (guards against a full publish that read the user just before the change)."""
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
    for key_hash in existed:  # only workers that may hold a copy need telling (one by one: a
        client.publish(keys.events, encode_event(EVENT_KEY, key_hash))  # cluster cannot pipeline them)
    return len(existed)


def snapshot_reconcile() -> str:
    """Periodic check: a Redis without the epoch (restarted empty) gets a full republish."""
    if redis_client().exists(redis_keys().epoch):
        withdraw_recently_revoked(since=timezone.now() - timedelta(minutes=10))
        withdraw_unadmitted_personal()
        return "present"
    snapshot_publish_all()
    return "republished"


def key_republish(key_id: str) -> None:
    """Publish the key's current state (re-read from PostgreSQL, so a late retry never resurrects it)."""
    key = ApiKey.objects.filter(pk=uuid.UUID(key_id)).select_related(*KEY_RELATED).first()
    if key is not None:
        key_publish(key)


def organization_republish(org_id: str) -> int:
    """Republish every live key of an organization (its limits, zone or models changed, or its
    personal user was approved, deactivated or reactivated)."""
    keys = ApiKey.objects.filter(organization_id=uuid.UUID(org_id), revoked_at__isnull=True)
    count = 0
    for key in keys.select_related(*KEY_RELATED).iterator(chunk_size=500):
        key_publish(key)
        count += 1
    return count


def snapshot_withdraw(key_hash: str) -> None:
    """Remove one secret's snapshot (a replaced secret, a key of a deleted organization)."""
    keys = redis_keys()
    pipe = redis_pipeline_for_publish()
    pipe.delete(keys.key(key_hash))
    redis_write_and_publish(pipe, keys.events, [encode_event(EVENT_KEY, key_hash)])


def keys_last_used_record(*, used: dict[str, datetime]) -> int:
    """Store last-used times gathered by the proxy; never moves a time backwards."""
    updated = 0
    for key_id, when in used.items():
        updated += ApiKey.objects.filter(pk=key_id).exclude(last_used_at__gte=when).update(last_used_at=when)
    return updated


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Remove last-used times only where each is still the one we stored. ARGV: key id, time, key id, …
# (one script for many: a Redis Cluster's pipeline cannot carry EVAL).
_HDEL_IF_SAME = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n
"""


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
    pairs = list(raw.items())
    for start in range(0, len(pairs), BATCH):
        client.eval(_HDEL_IF_SAME, 1, name, *(value for pair in pairs[start : start + BATCH] for value in pair))
    return updated
