"""B12 and B13: what the fleet router costs, and what its least-busy choice buys (issue 17).

B12: L2 (through nginx) p50 of a public model served by two equal deployments, so that the
router chooses on every call (both deployments' in-flight counts go into the admission script),
against the same fast backend behind a one-deployment model; c=1, one call to each in a shuffled
order per pair, so that load from other work lands on both alike.

B13: one public model, two equal deployments on two equal backends with two slots each
(bench/fast_backend.py: FAST_BACKEND_SLOTS=2, like llama-server --parallel 2; 10 ms a token).
Streams arrive at random (Poisson) and one in five is a long generation (100 tokens, about 1 s),
the rest short (8 tokens): the load on the two backends is skewed from moment to moment by where
the long ones landed. Least busy sees that skew, as the calls the proxy has in flight on each
deployment; round robin does not. Time to first byte is measured through two LiteLLM proxies of
the same stack (same Redis, catalog and worker count) that differ only in LLMAAS_ROUTING_POLICY,
in alternate, shuffled rounds with the same seeded arrival times and call kinds for both.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from stack.processes import Proc, Supervisor, free_port, http_ok
from stack.stack import ROOT, ModelSpec, Stack, StackConfig, delete_vhost, drop_database, ensure_vhost
from stack.testing import session

rng = random.Random(17)
PRICE_IN, PRICE_OUT = Decimal("0.10"), Decimal("0.20")
# B13's backends: equal, two slots each, 10 ms per token; a call is a long generation (100
# tokens, about 1 s) with probability LONG_SHARE, else a short one (8 tokens).
CHUNK_MS, SLOTS, LONG_TOKENS, SHORT_TOKENS, LONG_SHARE = 10, 2, 100, 8, 0.2


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bootstrap(samples: dict[str, list[float]], stat: Any, n: int = 1000) -> list[float]:
    values = []
    for _ in range(n):
        values.append(stat({k: rng.choices(v, k=len(v)) for k, v in samples.items()}))
    values.sort()
    return [round(values[int(0.025 * n)], 3), round(values[int(0.975 * n) - 1], 3)]


@dataclass
class Fleet:
    state: Path
    workers: int = 2
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    fast_port: int = field(default_factory=free_port)
    a_port: int = field(default_factory=free_port)
    b_port: int = field(default_factory=free_port)
    rr_port: int = field(default_factory=free_port)
    helpers: Supervisor = field(default_factory=lambda: Supervisor(ROOT))
    stack: Stack | None = None
    key: str = ""

    @property
    def vhost(self) -> str:
        return f"llmaas_bench_fleet_{self.run}"

    def models(self) -> list[ModelSpec]:
        fast, a, b = (f"http://127.0.0.1:{p}/v1" for p in (self.fast_port, self.a_port, self.b_port))
        return [
            ModelSpec("solo", fast, "fast", 8192, PRICE_IN, PRICE_OUT),
            ModelSpec("pair", fast, "fast", 8192, PRICE_IN, PRICE_OUT, deployment="pair-1"),
            ModelSpec("pair", fast, "fast", 8192, PRICE_IN, PRICE_OUT, deployment="pair-2"),
            ModelSpec("duo", a, "fast", 8192, PRICE_IN, PRICE_OUT, deployment="duo-a"),
            ModelSpec("duo", b, "fast", 8192, PRICE_IN, PRICE_OUT, deployment="duo-b"),
        ]

    @property
    def l2(self) -> str:
        assert self.stack is not None
        return self.stack.config.public_url

    @property
    def least_busy(self) -> str:
        assert self.stack is not None
        return f"http://127.0.0.1:{self.stack.config.litellm_port}"

    @property
    def round_robin(self) -> str:
        return f"http://127.0.0.1:{self.rr_port}"

    def up(self) -> None:
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        slotted = {"FAST_BACKEND_SLOTS": str(SLOTS), "FAST_BACKEND_CHUNK_DELAY_MS": str(CHUNK_MS),
                   "FAST_BACKEND_HONOR_MAX_TOKENS": "1"}  # fmt: skip
        backends: dict[str, tuple[int, dict[str, str]]] = {
            "fast": (self.fast_port, {}),
            "a": (self.a_port, slotted),
            "b": (self.b_port, slotted),
        }
        for name, (port, extra) in backends.items():
            self.helpers.start(
                Proc(
                    f"backend-{name}",
                    [sys.executable, "-m", "uvicorn", "bench.fast_backend:app", "--port", str(port),
                     "--no-access-log", "--log-level", "warning"],
                    {**env, **extra}, self.state / "logs" / f"backend-{name}.log",
                    http_ok(f"http://127.0.0.1:{port}/v1/models"),
                )
            )  # fmt: skip
        self.helpers.wait_ready(timeout=60)
        ensure_vhost(self.vhost)
        config = StackConfig(
            state_dir=self.state / "l2",
            database_url=f"postgres://postgres@127.0.0.1:5432/llmaas_bench_fleet_{self.run}",
            redis_prefix=f"llmaas-bench-fleet-{self.run}",
            broker_url=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            public_port=free_port(),
            django_port=free_port(),
            webhook_port=free_port(),
            litellm_port=free_port(),
            litellm_workers=self.workers,
            models=self.models(),
            extra_env={"LLMAAS_ROUTING_POLICY": "least_busy"},
        )
        self.stack = Stack(config)
        self.stack.up()
        self.key = self._key()
        # The same proxy (same Redis, catalog and workers), on its own port, routing round robin.
        proxy = self.stack.supervisor.procs["litellm"]
        argv = list(proxy.argv)
        argv[argv.index("--port") + 1] = str(self.rr_port)
        self.helpers.start(
            Proc(
                "litellm-round-robin", argv, {**proxy.env, "LLMAAS_ROUTING_POLICY": "round_robin"},
                self.state / "logs" / "litellm-round-robin.log", http_ok(f"{self.round_robin}/health/readiness"),
            )
        )  # fmt: skip
        self.helpers.wait_ready(["litellm-round-robin"], timeout=180)

    def _key(self) -> str:
        """A key with limits far out of reach, so that admission runs on every call (as B1)."""
        assert self.stack is not None
        state = self.stack.state
        client = session(self.l2, state["admin_email"], state["admin_password"])
        try:
            body = {"name": "bench-fleet", "budget_usd": "100000", "rpm": 10_000_000, "tpm": 1_000_000_000}
            response = client.post("/api/keys/", json=body)
            response.raise_for_status()
            return str(response.json()["secret"])
        finally:
            client.close()

    def streams(self) -> dict[str, int]:
        """Streams each of B13's backends has served so far."""
        counts = {}
        for name, port in (("a", self.a_port), ("b", self.b_port)):
            counts[name] = int(httpx.get(f"http://127.0.0.1:{port}/stats").json()["streams"])
        return counts

    def down(self) -> None:
        self.helpers.stop_all()
        if self.stack is not None:
            self.stack.down()
            drop_database(self.stack.config.database_url)
        delete_vhost(self.vhost)


def _alternate(url: str, key: str, models: dict[str, str], pairs: int) -> dict[str, list[float]]:
    """Latency of one call to each model in turn, in a shuffled order per pair: on a machine
    shared with other work, a burst of load lands on both models alike (one kept-alive client,
    as loadgen's c=1)."""
    samples: dict[str, list[float]] = {name: [] for name in models}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = {name: json.dumps(chat(model)).encode() for name, model in models.items()}
    with httpx.Client(timeout=60) as client:
        for _ in range(pairs):
            order = list(models)
            rng.shuffle(order)
            for name in order:
                start = time.perf_counter()
                response = client.post(url + "/v1/chat/completions", content=bodies[name], headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"B12: {name} answered {response.status_code}: {response.text[:300]}")
                samples[name].append(elapsed)
    return samples


def b12_routing_overhead(fleet: Fleet, rounds: int, per_round: int) -> dict[str, Any]:
    say(f"B12: routing overhead, L2 c=1, {rounds} rounds × {per_round} alternated pairs of calls")
    models = {"one": "solo", "two": "pair"}
    _alternate(fleet.l2, fleet.key, models, 20)  # warm-up: snapshot caches, connections, both workers
    samples: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, values in _alternate(fleet.l2, fleet.key, models, per_round).items():
            samples[name] += values

    def ratio(s: dict[str, list[float]]) -> float:
        one = pct(s["one"], 0.5)
        return (pct(s["two"], 0.5) - one) / one

    return {
        "ratio": round(ratio(samples), 3),
        "ci95": bootstrap(samples, ratio),
        "p50_ms": {k: round(pct(v, 0.5), 2) for k, v in samples.items()},
        "n": {k: len(v) for k, v in samples.items()},
    }


def chat(model: str, stream: bool = False, max_tokens: int = 8) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": max_tokens}
    return body | {"stream": True} if stream else body


async def _arrivals(url: str, key: str, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Streams started at Poisson arrival times, long or short at random (both seeded), each
    one's time to first byte."""
    arrivals = random.Random(seed)
    payloads = [json.dumps(chat("duo", True, tokens)).encode() for tokens in (SHORT_TOKENS, LONG_TOKENS)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    ttfb: list[float] = []
    errors: dict[str, int] = {}

    async def one(client: httpx.AsyncClient, payload: bytes) -> None:
        start = time.perf_counter()
        try:
            async with client.stream("POST", url + "/v1/chat/completions", content=payload, headers=headers) as r:
                first = None
                async for _ in r.aiter_raw():
                    first = first or time.perf_counter()
                if r.status_code != 200:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                    return
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        ttfb.append(((first or time.perf_counter()) - start) * 1000)

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        began, at, tasks = time.perf_counter(), 0.0, []
        while True:
            at += arrivals.expovariate(rate)
            if at > seconds:
                break
            await asyncio.sleep(max(0.0, began + at - time.perf_counter()))
            payload = payloads[arrivals.random() < LONG_SHARE]
            tasks.append(asyncio.create_task(one(client, payload)))
        await asyncio.gather(*tasks)
    return {"ttfb_ms": ttfb, "errors": errors}


def b13_least_busy(fleet: Fleet, rounds: int, seconds: float, rate: float) -> dict[str, Any]:
    say(f"B13: least busy vs round robin, {rounds} rounds × {seconds:.0f} s per policy, {rate} streams/s (Poisson)")
    policies = {"least_busy": fleet.least_busy, "round_robin": fleet.round_robin}
    samples: dict[str, list[float]] = {k: [] for k in policies}
    errors: dict[str, dict[str, int]] = {k: {} for k in policies}
    served: dict[str, dict[str, int]] = {k: {} for k in policies}
    for url in policies.values():  # warm-up
        asyncio.run(_arrivals(url, fleet.key, rate, 2, 0))
    time.sleep(1)
    before = fleet.streams()
    for r in range(rounds):
        order = list(policies)
        rng.shuffle(order)
        for name in order:
            out = asyncio.run(_arrivals(policies[name], fleet.key, rate, seconds, seed=1000 + r))
            samples[name] += out["ttfb_ms"]
            for k, v in out["errors"].items():
                errors[name][k] = errors[name].get(k, 0) + v
            time.sleep(1)  # every call settled: both deployments back to 0 in flight
            after = fleet.streams()
            served[name] = {k: served[name].get(k, 0) + after[k] - before[k] for k in after}
            before = after

    def ratio(s: dict[str, list[float]]) -> float:
        return pct(s["least_busy"], 0.95) / pct(s["round_robin"], 0.95)

    return {
        "ratio": round(ratio(samples), 3),
        "ci95": bootstrap(samples, ratio),
        "p95_ms": {k: round(pct(v, 0.95), 1) for k, v in samples.items()},
        "p50_ms": {k: round(pct(v, 0.5), 1) for k, v in samples.items()},
        "n": {k: len(v) for k, v in samples.items()},
        "errors": errors,
        "served": served,
        "rate": rate,
        "seconds": seconds,
        "rounds": rounds,
    }


FIGURES = {"B12", "B13"}


def run(state: Path, quick: bool, figures: set[str]) -> dict[str, Any]:
    fleet = Fleet(state)
    say("B12/B13: starting three fast backends, the LLMaaS stack and a round-robin proxy beside it")
    results: dict[str, Any] = {}
    try:
        fleet.up()
        if "B12" in figures:
            results["B12"] = b12_routing_overhead(fleet, rounds=4 if quick else 10, per_round=50 if quick else 150)
        if "B13" in figures:
            results["B13"] = b13_least_busy(fleet, rounds=3 if quick else 5, seconds=15 if quick else 30, rate=5.0)
    finally:
        fleet.down()
    return results


def rows(results: dict[str, Any]) -> list[tuple[str, str, Any, str, str]]:
    out: list[tuple[str, str, Any, str, str]] = []
    if "B12" in results:
        b12 = results["B12"]
        out.append(
            ("B12", "routing overhead: L2 p50, two equal deployments vs one, (two−one)/one", b12["ratio"],
             f"CI95 {b12['ci95']}, p50 {json.dumps(b12['p50_ms'])} ms, n {json.dumps(b12['n'])}", "≤ 0.05")
        )  # fmt: skip
    if "B13" in results:
        b13 = results["B13"]
        out.append(
            ("B13", "stream TTFB p95, least busy / round robin, 2 equal backends, 20 % long calls", b13["ratio"],
             f"CI95 {b13['ci95']}, p95 {json.dumps(b13['p95_ms'])} ms, p50 {json.dumps(b13['p50_ms'])} ms, "
             f"served {json.dumps(b13['served'])}, errors {json.dumps(b13['errors'])}, "
             f"{b13['rate']} streams/s × {b13['seconds']:.0f} s × {b13['rounds']} rounds", "≤ 0.70")
        )  # fmt: skip
    return out
