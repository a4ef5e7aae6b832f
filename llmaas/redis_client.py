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
from llmaas.errors import ServiceUnavailable


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def redis_keys() -> RedisKeys:
    return RedisKeys(settings.REDIS_PREFIX)


def redis_unavailable(what: str) -> ServiceUnavailable:
    """The API's answer when Redis cannot be reached: 503 with Retry-After, never a 500."""
    return ServiceUnavailable(f"{what} is briefly unavailable; try again shortly.", code="redis_unavailable")
