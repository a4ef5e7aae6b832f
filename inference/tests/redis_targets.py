"""The Redis an admission test runs against: the local server, or a real 3-master Redis Cluster
(the session's ``redis_cluster`` fixture), under the test's own key prefix."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from inference.proxy.contract import RedisKeys

SERVER = "redis://127.0.0.1:6379/0"
TARGETS = ["server", "cluster"]


@dataclass(frozen=True)
class KeysAt(RedisKeys):
    """The contract's key names, and the URL of the Redis that holds them."""

    url: str = SERVER


def keys_at(request: pytest.FixtureRequest, prefix: RedisKeys) -> KeysAt:
    """For a fixture parametrized over TARGETS (the cluster's keys go with it: its prefix is the test's own)."""
    url = SERVER if request.param == "server" else request.getfixturevalue("redis_cluster")
    return KeysAt(prefix.prefix, url)
