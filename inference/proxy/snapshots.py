"""Per-worker view of the key snapshots in Redis, for the LiteLLM auth hook.

A small in-process cache spares the Redis round trip on the hot path. It is trusted only
while this worker's pub/sub subscription to ``{p}:events`` is up: every invalidation reaches
us through it, and if it drops (Redis restarted, network) the cache is emptied and every
lookup goes to Redis until the subscription is back. So a revoked key is refused on every
worker as soon as Django's on-commit publish lands, and Redis being down never turns into
"admit from a stale cache".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from inference.proxy.contract import (
    EVENT_CATALOG,
    EVENT_FLUSH,
    EVENT_KEY,
    Catalog,
    CatalogModel,
    ContractError,
    KeySnapshot,
    RedisKeys,
    decode_event,
)
from inference.proxy.redis_conn import async_client, async_redis, mget, pubsub

log = logging.getLogger("llmaas.proxy")


class SnapshotUnavailable(Exception):
    """Redis cannot answer, or holds no loaded snapshot: fail closed (503)."""


@dataclass
class _Entry:
    snapshot: KeySnapshot
    fetched_at: float


class SnapshotStore:
    def __init__(
        self,
        redis_url: str,
        keys: RedisKeys,
        *,
        cache_ttl: float = 60.0,
        cache_size: int = 10_000,
        timeout: float = 1.0,
        on_catalog: Callable[[bytes | str, Catalog], None] | None = None,
    ) -> None:
        self.keys = keys
        # Called with each catalog loaded afresh (the router follows it: router_sync.py).
        self.on_catalog = on_catalog
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self.redis = async_redis(redis_url, timeout)
        # The subscriber blocks on reads, so it gets a connection without a read timeout. On a
        # cluster it listens on one node: PUBLISH reaches every node's subscribers.
        self._sub_redis = async_client(
            redis_url, socket_connect_timeout=timeout, socket_keepalive=True, health_check_interval=10
        )
        self._cache: dict[str, _Entry] = {}
        self._catalog: dict[str, CatalogModel] | None = None
        self._subscribed = False
        self._closing = False
        # Bumped by every invalidation: a lookup that raced one must not cache what it read.
        self._generation = 0
        self._listener: asyncio.Task[None] | None = None

    # --- the subscription that makes the cache trustworthy --------------------------------
    def ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        backoff = 0.1
        # Polls instead of blocking on listen(): redis-py can swallow a cancellation inside its
        # connection code, so the loop also checks a flag at least once a second.
        while not self._stopping():
            subscription = None
            try:
                subscription = await pubsub(self._sub_redis)
                await subscription.subscribe(self.keys.events)
                # Anything published while we were away is unknown: start from an empty cache.
                self._forget()
                self._subscribed = True
                backoff = 0.1
                while not self._stopping():
                    message = await subscription.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means we may miss invalidations
                log.warning("snapshot subscription lost (%s); cache disabled until it is back", type(exc).__name__)
            finally:
                self._subscribed = False
                self._forget()
                with contextlib.suppress(Exception):  # the connection may already be gone
                    if subscription is not None:
                        await subscription.aclose()
            if not self._stopping():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _forget(self) -> None:
        """Drop every cached snapshot and the catalog; a lookup in flight will not cache."""
        self._generation += 1
        self._cache.clear()
        self._catalog = None

    def _stopping(self) -> bool:
        task = asyncio.current_task()
        return self._closing or (task is not None and task.cancelling() > 0)

    async def close(self) -> None:
        """Stop the subscription and close connections (worker shutdown, tests)."""
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._listener, timeout=5)
        await self.redis.aclose()
        await self._sub_redis.aclose()

    def _apply(self, raw: bytes | str) -> None:
        self._generation += 1
        try:
            kind, key_hash = decode_event(raw)
        except ValueError:
            self._cache.clear()
            return
        if kind == EVENT_KEY and key_hash:
            self._cache.pop(key_hash, None)
        elif kind == EVENT_FLUSH:
            self._forget()
        elif kind == EVENT_CATALOG:
            self._catalog = None

    # --- lookups ----------------------------------------------------------------------------
    async def get(self, key_hash: str) -> KeySnapshot | None:
        """The key's snapshot, or None if no such active key. Raises SnapshotUnavailable."""
        self.ensure_listener()
        now = time.monotonic()
        if self._subscribed:
            entry = self._cache.get(key_hash)
            if entry is not None and now - entry.fetched_at < self.cache_ttl:
                return entry.snapshot
        generation = self._generation
        try:
            epoch, raw = await mget(self.redis, self.keys.epoch, self.keys.key(key_hash))
        except (RedisError, OSError) as exc:
            raise SnapshotUnavailable(f"Redis unreachable ({type(exc).__name__})") from exc
        if epoch is None:
            raise SnapshotUnavailable("the key snapshot is not loaded yet")
        if raw is None:
            return None
        try:
            snapshot = KeySnapshot.from_json(raw)
        except (ContractError, ValueError, KeyError, TypeError) as exc:
            log.error("unreadable key snapshot for a key (%s)", exc)
            raise SnapshotUnavailable("unreadable key snapshot") from exc
        if self._subscribed and generation == self._generation:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key_hash] = _Entry(snapshot, now)
        return snapshot

    async def catalog_model(self, name: str) -> CatalogModel | None:
        """The catalog entry of a public model name or alias (cached like the snapshots)."""
        catalog = self._catalog if self._subscribed else None
        if catalog is None:
            generation = self._generation
            try:
                raw = await self.redis.get(self.keys.catalog)
            except (RedisError, OSError) as exc:
                raise SnapshotUnavailable(f"Redis unreachable ({type(exc).__name__})") from exc
            try:
                parsed = Catalog.from_json(raw) if raw else Catalog()
            except (ContractError, ValueError, KeyError, TypeError) as exc:
                raise SnapshotUnavailable("unreadable catalog") from exc
            catalog = parsed.lookup()
            if raw and self.on_catalog is not None:
                self.on_catalog(raw, parsed)
            if self._subscribed and generation == self._generation:
                self._catalog = catalog
        return catalog.get(name)

    async def touch(self, key_id: str, when: float) -> None:
        """Record the key's last use (flushed to PostgreSQL by a Celery beat task)."""
        with contextlib.suppress(RedisError, OSError):  # best effort: informational only
            await self.redis.hset(self.keys.last_used, key_id, str(int(when)))
