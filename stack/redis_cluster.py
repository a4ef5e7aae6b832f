"""A throwaway Redis Cluster for tests: ``masters`` real ``redis-server --cluster-enabled yes``
processes on free ports, joined by ``redis-cli --cluster create`` (no replicas), ready once every
node reports ``cluster_state:ok``. Yields the ``redis+cluster://`` URL every process of the stack
reads (inference/proxy/redis_conn.py); the processes and their files go at the end."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from stack.processes import free_port, port_open

READY_TIMEOUT = 60.0  # seconds; a loaded two-core machine takes a few


@contextlib.contextmanager
def redis_cluster(state: Path, masters: int = 3) -> Iterator[str]:
    ports = [(free_port(), free_port()) for _ in range(masters)]  # (client port, cluster bus port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, bus in ports:
            node = state / f"node-{port}"
            node.mkdir(parents=True, exist_ok=True)
            log = (node / "redis.log").open("wb")
            command = [
                "redis-server", "--port", str(port), "--cluster-port", str(bus), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node),
                "--save", "", "--appendonly", "no",
            ]  # fmt: skip
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        _wait(lambda: all(port_open(port) for port, _ in ports), "the cluster's nodes to listen")
        nodes = [f"127.0.0.1:{port}" for port, _ in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=READY_TIMEOUT,
        )
        _wait(lambda: all(_cluster_ok(port) for port, _ in ports), "cluster_state:ok on every node")
        yield f"redis+cluster://{nodes[0]}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        info = client.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return False
    finally:
        client.close()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


def _wait(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")
