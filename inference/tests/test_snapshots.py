"""The proxy's per-worker snapshot cache (plain asyncio + real Redis; no LiteLLM needed)."""

import asyncio
import time

import pytest
import redis as redis_lib

from inference.proxy.contract import EVENT_FLUSH, EVENT_KEY, KeySnapshot, encode_event
from inference.proxy.snapshots import SnapshotStore, SnapshotUnavailable
from stack.processes import free_port

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def rkeys(redis_prefix):
    return redis_prefix


def run(coro):
    return asyncio.run(coro)


async def until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


def _seed(rkeys, key_hash="a" * 64):
    client = redis_lib.Redis.from_url(URL)
    snapshot = KeySnapshot(key_id="k1", org_id="o1", user_id="u1", models=("tiny",))
    client.set(rkeys.epoch, "1")
    client.set(rkeys.key(key_hash), snapshot.to_json())
    return client, snapshot, key_hash


def test_it_reads_a_snapshot_and_serves_repeats_from_its_cache(rkeys):
    client, snapshot, key_hash = _seed(rkeys)

    async def scenario():
        store = SnapshotStore(URL, rkeys)
        assert await store.get(key_hash) == snapshot
        assert await until(lambda: _subscribed(store))
        assert await store.get(key_hash) == snapshot  # now cached
        client.delete(rkeys.key(key_hash))  # without an event: the cache still answers
        assert await store.get(key_hash) == snapshot
        client.publish(rkeys.events, encode_event(EVENT_KEY, key_hash))  # with one: it does not
        assert await until(lambda: _is_none(store.get(key_hash)))
        assert await store.get("b" * 64) is None
        await store.close()

    run(scenario())


async def _subscribed(store) -> bool:
    return store._subscribed


async def _is_none(awaitable) -> bool:
    return (await awaitable) is None


def test_a_flush_event_drops_every_cached_snapshot(rkeys):
    client, _, key_hash = _seed(rkeys)

    async def scenario():
        store = SnapshotStore(URL, rkeys)
        await store.get(key_hash)
        assert await until(lambda: _subscribed(store))
        await store.get(key_hash)
        client.delete(rkeys.key(key_hash))
        client.publish(rkeys.events, encode_event(EVENT_FLUSH))
        assert await until(lambda: _is_none(store.get(key_hash)))
        await store.close()

    run(scenario())


def test_it_fails_closed_when_the_snapshot_epoch_is_missing(rkeys):
    client, _, key_hash = _seed(rkeys)
    client.delete(rkeys.epoch)

    async def scenario():
        store = SnapshotStore(URL, rkeys)
        with pytest.raises(SnapshotUnavailable, match="not loaded"):
            await store.get(key_hash)
        await store.close()

    run(scenario())


def test_it_fails_closed_when_redis_is_unreachable(rkeys):
    async def scenario():
        store = SnapshotStore(f"redis://127.0.0.1:{free_port()}/0", rkeys, timeout=0.2)
        with pytest.raises(SnapshotUnavailable, match="unreachable"):
            await store.get("a" * 64)
        await store.close()

    run(scenario())


def test_it_refuses_snapshots_of_an_unknown_version(rkeys):
    client, _, key_hash = _seed(rkeys)
    client.set(rkeys.key(key_hash), '{"v": 99, "key_id": "k"}')

    async def scenario():
        store = SnapshotStore(URL, rkeys)
        with pytest.raises(SnapshotUnavailable, match="unreadable"):
            await store.get(key_hash)
        await store.close()

    run(scenario())
