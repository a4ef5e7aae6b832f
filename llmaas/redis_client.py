"""The control plane's Redis client and the contract's key names under this deployment's prefix.

One client per URL (a test that points ``settings.REDIS_URL`` elsewhere gets a client for that
URL, and the shared one is untouched). Every app imports it from here, so no app reaches into
another for a connection.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings

from inference.proxy.contract import RedisKeys
from inference.proxy.redis_conn import is_cluster, sync_redis
from llmaas.errors import ServiceUnavailable


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # A Redis Cluster's client (``redis+cluster://``) offers the same commands; its type differs,
    # and the few places where a cluster behaves differently ask ``redis_is_cluster``.
    return sync_redis(url, socket_timeout=2, socket_connect_timeout=2)  # type: ignore[return-value]


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def redis_is_cluster() -> bool:
    return is_cluster(redis_client())


def redis_write_and_publish(pipe: redis.client.Pipeline, channel: str, messages: list[str]) -> list[object]:
    """Run the writes queued on ``pipe`` (made by ``redis_pipeline_for_publish``), then publish
    ``messages``: on one server in the same MULTI (no subscriber sees an event before its write);
    on a cluster, where MULTI spans one hash slot and PUBLISH cannot be pipelined, the writes
    land first and the events follow, one command each."""
    if not redis_is_cluster():
        for message in messages:
            pipe.publish(channel, message)
        return list(pipe.execute())
    results = list(pipe.execute())
    client = redis_client()
    for message in messages:
        client.publish(channel, message)
    return results


def redis_pipeline_for_publish() -> redis.client.Pipeline:
    """A pipeline for ``redis_write_and_publish``: a MULTI on one server, plain on a cluster."""
    return redis_client().pipeline(transaction=not redis_is_cluster())


def redis_keys() -> RedisKeys:
    return RedisKeys(settings.REDIS_PREFIX)


def redis_unavailable(what: str) -> ServiceUnavailable:
    """The API's answer when Redis cannot be reached: 503 with Retry-After, never a 500."""
    return ServiceUnavailable(f"{what} is briefly unavailable; try again shortly.", code="redis_unavailable")
