"""The control plane's cost on the hot path, as ratios against stock LiteLLM and the backend.

    .venv/bin/python -m bench.run [--quick] [--out bench/out] [--only B10,B11]

Writes report.md, report.json and PNG plots. Every figure is a ratio against a baseline
measured in the same run, with samples interleaved across levels (see bench/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench import fleet, portal
from bench.stacks import Bench
from inference.proxy.contract import UsageRecord
from inference.proxy.shipper import ShipperConfig
from inference.proxy.signing import signed_headers
from stack.stack import ROOT
from stack.testing import oauth_tokens, session

CHAT = {"model": "fast", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}
rng = random.Random(7)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The CPUs the load generator runs on (os.sched_setaffinity in its process): the last one of a
# machine with 2 or more, so that it never takes the cores the proxies are pinned to
# (Bench.pin_proxies, on 3 or more CPUs). On 2 cores the proxies keep both (see bench/README.md).
CPUS = sorted(os.sched_getaffinity(0))
LOADGEN_CPUS = set(CPUS[-1:]) if len(CPUS) >= 2 else set(CPUS)
PROXY_CPUS = set(CPUS[:-1]) if len(CPUS) >= 3 else set(CPUS)


def _pin_loadgen() -> None:
    os.sched_setaffinity(0, LOADGEN_CPUS)


def load(url: str, key: str, body: dict, concurrency: int = 1, **limits: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.loadgen", url + "/v1/chat/completions", key, json.dumps(body)]
    argv += ["--concurrency", str(concurrency)]
    for name, value in limits.items():
        argv += [f"--{name}", str(value)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True, preexec_fn=_pin_loadgen)
    return dict(json.loads(out.stdout))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bootstrap(
    samples: dict[str, list[float]], stat: Callable[[dict[str, list[float]]], float], n: int = 1000
) -> tuple[float, float]:
    """95 % CI of a statistic of several samples, by resampling each with replacement."""
    values = []
    for _ in range(n):
        resampled = {k: rng.choices(v, k=len(v)) for k, v in samples.items()}
        try:
            values.append(stat(resampled))
        except ZeroDivisionError:
            continue
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def b1_added_latency(bench: Bench, rounds: int, per_round: int) -> dict[str, Any]:
    say(f"B1: added latency, c=1, {rounds} interleaved rounds × {per_round} requests per level")
    levels = {"L0": (bench.l0, "none"), "L1": (bench.l1, bench.l1_key), "L2": (bench.l2, bench.key)}
    samples: dict[str, list[float]] = {k: [] for k in levels}
    for _ in range(rounds):
        order = list(levels)
        rng.shuffle(order)
        for level in order:
            url, key = levels[level]
            samples[level] += load(url, key, CHAT, 1, requests=per_round)["latencies_ms"]
    result: dict[str, Any] = {"samples": {k: len(v) for k, v in samples.items()}}
    for name, q in (("p50", 0.5), ("p99", 0.99)):

        def ratio(s: dict[str, list[float]], q: float = q) -> float:
            return (pct(s["L2"], q) - pct(s["L1"], q)) / (pct(s["L1"], q) - pct(s["L0"], q))

        result[name] = {
            **{level: round(pct(v, q), 3) for level, v in samples.items()},
            "ratio": round(ratio(samples), 3),
            "ci95": [round(x, 3) for x in bootstrap(samples, ratio)],
        }
    result["raw"] = samples
    return result


def b8_full_path(samples: dict[str, list[float]]) -> dict[str, Any]:
    """The whole LLMaaS path against stock LiteLLM, each less the backend: (L2−L0)/(L1−L0), from
    B1's interleaved c=1 samples (below 1: our proxy, with nginx, auth, admission and the usage
    hook, costs less than stock LiteLLM alone)."""
    result: dict[str, Any] = {}
    for name, q in (("p50", 0.5), ("p99", 0.99)):

        def ratio(s: dict[str, list[float]], q: float = q) -> float:
            return (pct(s["L2"], q) - pct(s["L0"], q)) / (pct(s["L1"], q) - pct(s["L0"], q))

        result[name] = {
            "added_ms": {k: round(pct(samples[k], q) - pct(samples["L0"], q), 3) for k in ("L1", "L2")},
            "ratio": round(ratio(samples), 3),
            "ci95": [round(x, 3) for x in bootstrap(samples, ratio)],
        }
    return result


def _knee(points: list[dict[str, Any]], idle_p99: float) -> dict[str, Any]:
    """The highest rate with the p99 under 2× idle: the points in order of concurrency up to the
    first over it (or with errors), where the p99 curve's crossing of 2× idle is interpolated
    linearly between that point and the one before (the levels are a few, far apart)."""
    limit = 2 * idle_p99
    knee, below, at = 0.0, None, None
    for p in points:
        if p["p99"] >= limit or p["errors"]:
            if below is not None and not p["errors"]:
                share = (limit - below["p99"]) / (p["p99"] - below["p99"])
                crossing = below["rps"] + share * (p["rps"] - below["rps"])
                if crossing > knee:
                    knee = crossing
                    at = below["concurrency"] + share * (p["concurrency"] - below["concurrency"])
            break
        if p["rps"] > knee:
            knee, at = p["rps"], p["concurrency"]
        below = p
    return {"points": points, "idle_p99": round(idle_p99, 2), "limit_p99": round(limit, 2), "knee_rps": round(knee, 1),
            "knee_concurrency": None if at is None else round(at, 2)}  # fmt: skip


def b2_throughput(
    bench: Bench, levels: list[int], seconds: float, idle: tuple[int, int], rounds: int = 2
) -> dict[str, Any]:
    """Per concurrency, L1 and L2 alternate in shuffled rounds (``seconds`` split between them),
    so that a slow spell of a shared machine falls on both levels rather than on one curve. The
    idle p99 is measured apart, c=1 over ``idle`` = (rounds, requests) interleaved: it sets each
    curve's limit, and from one short window a single stall would double it."""
    result: dict[str, Any] = {}
    targets = {"L1": (bench.l1, bench.l1_key), "L2": (bench.l2, bench.key)}
    for workers in (1, 2):
        say(f"B2: throughput knee with {workers} worker(s), concurrency {levels}, {rounds} interleaved rounds")
        bench.set_workers(workers)
        bench.pin_proxies(PROXY_CPUS)
        quiet: dict[str, list[float]] = {"L1": [], "L2": []}
        for _ in range(idle[0]):
            order = list(targets)
            rng.shuffle(order)
            for level in order:
                quiet[level] += load(*targets[level], CHAT, 1, requests=idle[1])["latencies_ms"]
        points: dict[str, list[dict[str, Any]]] = {"L1": [], "L2": []}
        for c in levels:
            latencies: dict[str, list[float]] = {"L1": [], "L2": []}
            elapsed, errors = {"L1": 0.0, "L2": 0.0}, {"L1": 0, "L2": 0}
            for _ in range(rounds):
                order = list(targets)
                rng.shuffle(order)
                for level in order:
                    r = load(*targets[level], CHAT, c, seconds=seconds / rounds)
                    latencies[level] += r["latencies_ms"]
                    elapsed[level] += r["elapsed_s"]
                    errors[level] += sum(r["errors"].values())
            for level, lat in latencies.items():
                points[level].append({"concurrency": c, "rps": round(len(lat) / elapsed[level], 1),
                                      "p99": round(pct(lat, 0.99), 2), "errors": errors[level]})  # fmt: skip
        l1, l2 = (_knee(points[k], pct(quiet[k], 0.99)) for k in ("L1", "L2"))
        result[f"workers_{workers}"] = {"L1": l1, "L2": l2, "ratio": round(l2["knee_rps"] / l1["knee_rps"], 3)}
    result["scaling"] = {
        level: round(result["workers_2"][level]["knee_rps"] / result["workers_1"][level]["knee_rps"], 3)
        for level in ("L1", "L2")
    }
    result["pinning"] = {"loadgen_cpus": sorted(LOADGEN_CPUS), "proxy_cpus": sorted(PROXY_CPUS), "cpus": CPUS}
    return result


def b3_ttft(bench: Bench, n: int) -> dict[str, Any]:
    """Each prompt goes to L1 and L2 in a shuffled order, so the figure is the median of the
    per-prompt ratios (the prompts' own spread in TTFT cancels out), with a CI by resampling the
    prompts; the ratio of the two medians is shown beside it."""
    say(f"B3: streaming time to first token on SmolLM2, {n} varied prompts, interleaved")
    samples: dict[str, list[float]] = {"L1": [], "L2": []}
    for i in range(n):
        body = {
            "model": "smollm2",
            "messages": [{"role": "user", "content": f"Question {i}: name {rng.randint(2, 99)} animals that {i}."}],
            "max_tokens": 16,
            "stream": True,
            "cache_prompt": False,
        }
        pairs = [("L1", bench.l1, bench.l1_key), ("L2", bench.l2, bench.key)]
        rng.shuffle(pairs)
        for level, url, key in pairs:
            samples[level] += load(url, key, body, 1, requests=1)["ttfb_ms"]

    paired = {"L2/L1": [b / a for a, b in zip(samples["L1"], samples["L2"], strict=True)]}
    return {
        "median_ms": {k: round(statistics.median(v), 2) for k, v in samples.items()},
        "ratio_of_medians": round(statistics.median(samples["L2"]) / statistics.median(samples["L1"]), 3),
        "ratio": round(statistics.median(paired["L2/L1"]), 3),
        "ci95": [round(x, 3) for x in bootstrap(paired, lambda s: statistics.median(s["L2/L1"]))],
    }


class StatementWatch(threading.Thread):
    """The statements that backends of ``name`` start while it runs: pg_stat_activity keeps each
    backend's last ``query_start``, polled every 20 ms from another database (so that the watch
    is not itself counted). A statement between two polls of the same backend is missed, but not
    its transaction's commit: the two figures are read together."""

    def __init__(self, server: str, name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.name, self.stopping = server, name, threading.Event()
        self.seen: dict[tuple[int, Any], str] = {}
        with psycopg.connect(server) as conn:
            self.since = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]

    def run(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            while not self.stopping.wait(0.02):
                for pid, started, kind, query in conn.execute(
                    "SELECT pid, query_start, backend_type, left(query, 160) FROM pg_stat_activity"
                    " WHERE datname = %s AND query_start >= %s",
                    (self.name, self.since),
                ):
                    self.seen[(pid, started)] = f"{kind}: {query}"

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.join()
        counts: dict[str, int] = {}
        for what in self.seen.values():
            counts[what] = counts.get(what, 0) + 1
        return counts


def b4_statements(bench: Bench, n: int) -> dict[str, Any]:
    say(f"B4: SQL statements and Redis commands per proxied request ({n} requests)")
    assert bench.stack is not None
    sup = bench.stack.supervisor
    # Background work, measured apart from the hot path (the fleet agent reads the catalog each second).
    quiet = ["shipper", "celery-beat", "celery-worker", "fleet-agent"]
    for name in quiet:
        sup.stop(name)
    db = bench.stack.config.database_url
    client = redis.Redis.from_url(bench.stack.config.redis_url)
    name = db.rsplit("/", 1)[1]

    server = db.rsplit("/", 1)[0] + "/postgres"

    def pg() -> int:
        with psycopg.connect(server) as conn:
            row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,))
            return int(row.fetchone()[0])  # type: ignore[index]

    def maintenance() -> tuple[int, int]:
        """(autovacuum + autoanalyze runs, rows written) in the database so far: autovacuum's own
        transactions count in pg_stat_database too, and a request path that wrote would show rows."""
        with psycopg.connect(db) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0),"
                " coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
            ).fetchone()
            return int(row[0]), int(row[1])  # type: ignore[index]

    def commands() -> dict[str, int]:
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}

    load(bench.l2, bench.key, CHAT, 4, requests=50)  # warm-up
    # Backends report their counts when they end, at most each second while busy, and 10 s after
    # they go idle (PostgreSQL 15): wait those out, or Django's last webhook deliveries (and this
    # SELECT, which commits in the benchmark's database too) land in the window.
    before_maintenance = maintenance()
    time.sleep(11)
    started = time.monotonic()
    before_pg, before_redis = pg(), commands()
    watch = StatementWatch(server, name)
    watch.start()
    load(bench.l2, bench.key, CHAT, 4, requests=n)
    time.sleep(2)  # let the usage hook's buffer drain
    statements = watch.stop()
    after_pg, after_redis = pg(), commands()
    # Baseline: the same stack left idle for as long (autovacuum and the like also commit).
    time.sleep(time.monotonic() - started)
    idle_pg = pg() - after_pg
    after_maintenance = maintenance()  # after both windows: its own SELECT commits too
    for name_ in quiet:
        sup.restart(name_, timeout=60)
    per_request = {
        k: round((after_redis.get(k, 0) - before_redis.get(k, 0)) / n, 3)
        for k in after_redis
        if after_redis.get(k, 0) != before_redis.get(k, 0)
    }
    # Client-issued commands: one EVALSHA admits before the call (another settles after the
    # response), MGET only on snapshot-cache misses; the rest run inside the scripts.
    on_path = per_request.get("evalsha", 0) / 2 + per_request.get("mget", 0)
    after = per_request.get("evalsha", 0) / 2 + per_request.get("xadd", 0)
    commits = max(0, after_pg - before_pg - idle_pg)
    return {
        "sql_transactions_per_request": round(max(commits, sum(statements.values())) / n, 4),
        "sql_statements_seen_during_load": statements,
        "sql_transactions_raw": {
            "during_load": after_pg - before_pg,
            "same_time_idle": idle_pg,
            "autovacuum_runs_in_both_windows": after_maintenance[0] - before_maintenance[0],
            "rows_written_in_both_windows": after_maintenance[1] - before_maintenance[1],
        },
        "redis_commands_per_request": per_request,
        "redis_round_trips_on_the_request_path": round(on_path, 3),
        "redis_round_trips_after_the_response": round(after, 3),
        "note": "commandstats also counts commands run inside scripts; XADD is pipelined in batches",
    }


def b5_ingest(bench: Bench, rows: int, rounds: int) -> dict[str, Any]:
    """The webhook (in the shipper's batches, signed, over HTTP to the internal workers the shipper
    posts to, ``ShipperConfig.parallel`` batches in flight as the shipper sends them, into the
    partitioned request_logs with its deltas) against one COPY of the same rows, every column the
    ingest writes, into a table like request_logs; in interleaved rounds, each with fresh rows."""
    batch, parallel = ShipperConfig.batch, ShipperConfig.parallel
    say(f"B5: usage ingest through the webhook (batches of {batch}, {parallel} in flight) vs COPY, "
        f"{rounds} rounds × {rows} rows")  # fmt: skip
    assert bench.stack is not None
    secret = bench.stack.secret("LLMAAS_WEBHOOK_SECRET")
    url = f"http://127.0.0.1:{bench.stack.config.webhook_port}/api/webhooks/litellm"
    db = bench.stack.config.database_url

    def webhook(records: list[dict[str, Any]]) -> float:
        # The bodies as a shipper sends them, built beforehand: serialising is the shipper's work,
        # in its own process; signing (per try) is timed.
        bodies = [json.dumps({"records": records[i : i + batch]}).encode() for i in range(0, len(records), batch)]

        def post(client: httpx.Client, body: bytes) -> None:
            headers = {"Content-Type": "application/json", **signed_headers(secret, body)}
            client.post(url, content=body, headers=headers).raise_for_status()

        started = time.perf_counter()
        limits = httpx.Limits(max_connections=parallel)
        with httpx.Client(timeout=120, limits=limits) as client, ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda body: post(client, body), bodies))  # as the shipper's delivery threads
        return len(records) / (time.perf_counter() - started)

    def copy(records: list[dict[str, Any]]) -> float:
        table = f"bench_copy_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (LIKE request_logs INCLUDING ALL)")
            try:
                columns = ", ".join((*STORED, "cost", "created_at", "ingested_at"))
                started = time.perf_counter()
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as out:
                    for r in records:
                        when = datetime.fromtimestamp(r["created_at"], UTC)
                        out.write_row([*(r[c] for c in STORED), Decimal("0.0000048"), when, "now"])
                return len(records) / (time.perf_counter() - started)
            finally:
                conn.execute(f"DROP TABLE {table}")

    samples: dict[str, list[float]] = {"webhook": [], "copy": []}
    for _ in range(rounds):
        order = list(samples)
        rng.shuffle(order)
        for name in order:
            samples[name].append((webhook if name == "webhook" else copy)(usage_records(rows)))
    webhook_rate, copy_rate = (statistics.median(samples[k]) for k in ("webhook", "copy"))
    return {
        "batch": batch,
        "parallel": parallel,
        "webhook_rows_per_s": round(webhook_rate),
        "copy_rows_per_s": round(copy_rate),
        "rounds": {k: [round(x) for x in v] for k, v in samples.items()},
        "ratio": round(webhook_rate / copy_rate, 3),
    }


# The record's fields that request_logs stores as they are (the ingest adds cost and ingested_at).
STORED = ("call_id", "org_id", "key_id", "user_id", "model", "deployment_id", "prompt_tokens", "completion_tokens",
          "latency_ms", "ttft_ms", "status", "error_type", "stream", "end_user", "tokens_estimated")  # fmt: skip


def usage_records(rows: int) -> list[dict[str, Any]]:
    """Like a shipper's batches: calls of a few organizations' keys (10 organizations × 5 keys)."""
    now = time.time()
    keys = [(str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(5)]) for _ in range(10)]
    records = []
    for i in range(rows):
        org, org_keys = keys[i % len(keys)]
        records.append(dataclasses.asdict(
            UsageRecord(
                call_id=str(uuid.uuid4()), org_id=org, key_id=org_keys[i % 5], user_id=None,
                model="fast", deployment_id="fast", prompt_tokens=12, completion_tokens=8, latency_ms=3.2,
                ttft_ms=None, status="success", error_type=None, stream=False, end_user=f"user-{i % 300}",
                created_at=now - (i % 600),
            )
        ))  # fmt: skip
    return records


def rss_mb(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return [s for s in sizes if s > 50]  # proxy workers, not uvicorn's tiny helper processes


def b6_rss(bench: Bench, warm_up: int) -> dict[str, Any]:
    say(f"B6: proxy worker RSS after warm-up ({warm_up} requests a level)")
    for url, key in ((bench.l1, bench.l1_key), (bench.l2, bench.key)):
        load(url, key, CHAT, 8, requests=warm_up)
    l1, l2 = rss_mb(bench.worker_pids("L1")), rss_mb(bench.worker_pids("L2"))
    ratio = statistics.mean(l2) / statistics.mean(l1)
    return {"L1_mb": [round(x, 1) for x in l1], "L2_mb": [round(x, 1) for x in l2], "ratio": round(ratio, 3)}


def b7_soak(bench: Bench, knee_rps: float, seconds: float) -> dict[str, Any]:
    rate = max(1.0, 0.8 * knee_rps)
    say(f"B7: soak at {rate:.0f} req/s (80 % of the knee) for {seconds:.0f} s per level")
    result: dict[str, Any] = {"rate": round(rate, 1), "seconds": seconds}
    for level, url, key in (("L1", bench.l1, bench.l1_key), ("L2", bench.l2, bench.key)):
        warm = load(url, key, CHAT, 8, seconds=max(2.0, seconds * 0.1), rate=rate)
        start = statistics.mean(rss_mb(bench.worker_pids(level)))
        soak = load(url, key, CHAT, 16, seconds=seconds, rate=rate)
        end = statistics.mean(rss_mb(bench.worker_pids(level)))
        errors = sum(soak["errors"].values()) + sum(warm["errors"].values())
        result[level] = {"errors": errors, "rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1),
                         "growth_mb": round(end - start, 1), "rps": round(soak["rps"], 1)}  # fmt: skip
    g1, g2 = max(result["L1"]["growth_mb"], 0.1), max(result["L2"]["growth_mb"], 0.1)
    result["growth_ratio"] = round(g2 / g1, 3)
    return result


def b9_api_auth(bench: Bench, rounds: int, per_round: int) -> dict[str, Any]:
    """The REST API's authentication: p50 of an authenticated GET /api/keys/ through nginx with
    the session cookie vs an OAuth Bearer JWT (checked without SQL), interleaved."""
    say(f"B9: API auth, session vs Bearer, {rounds} interleaved rounds × {per_round} GETs")
    assert bench.stack is not None
    state = bench.stack.state
    tokens = oauth_tokens(
        bench.l2,
        state["admin_email"],
        state["admin_password"],
        client_id="llmaas-portal",
        redirect_uri=f"{bench.l2}/auth/callback",
        scope="openid keys:read",
    )
    clients = {
        "session": session(bench.l2, state["admin_email"], state["admin_password"]),
        "bearer": httpx.Client(
            base_url=bench.l2, timeout=30, headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ),
    }
    samples: dict[str, list[float]] = {k: [] for k in clients}
    try:
        for client in clients.values():  # warm up connections and caches
            for _ in range(10):
                client.get("/api/keys/").raise_for_status()
        for _ in range(rounds):
            order = list(clients)
            rng.shuffle(order)
            for name in order:
                for _ in range(per_round):
                    started = time.perf_counter()
                    clients[name].get("/api/keys/").raise_for_status()
                    samples[name].append((time.perf_counter() - started) * 1000)
    finally:
        for client in clients.values():
            client.close()

    def ratio(s: dict[str, list[float]]) -> float:
        return statistics.median(s["bearer"]) / statistics.median(s["session"])

    low, high = bootstrap(samples, ratio)
    return {
        "p50_ms": {k: round(statistics.median(v), 3) for k, v in samples.items()},
        "ratio": round(ratio(samples), 3),
        "ci95": [round(low, 3), round(high, 3)],
        "n": {k: len(v) for k, v in samples.items()},
    }


def plots(out: Path, b1: dict[str, Any], b2: dict[str, Any]) -> list[str]:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # B1: one panel per level on a shared logarithmic axis (the backend answers in about a
    # millisecond, the proxies in tens), p50 and p99 marked.
    names = {"L0": "L0 backend direct", "L1": "L1 stock LiteLLM", "L2": "L2 LLMaaS (nginx, auth, admission, usage)"}
    raw = b1["raw"]
    low = max(0.05, min(min(v) for v in raw.values()))
    high = max(max(v) for v in raw.values())
    bins = [low * (high / low) ** (i / 80) for i in range(81)]
    fig, axes = plt.subplots(len(raw), 1, figsize=(8, 1.9 * len(raw) + 0.8), sharex=True)
    for ax, (level, values) in zip(axes, sorted(raw.items()), strict=True):
        ax.hist(values, bins=bins, color={"L0": "tab:gray", "L1": "tab:blue", "L2": "tab:orange"}[level])
        for q, style in ((0.5, "-"), (0.99, "--")):
            ax.axvline(pct(values, q), color="black", linestyle=style, linewidth=1,
                       label=f"p{int(q * 100)} {pct(values, q):.2f} ms")  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylabel("requests")
        ax.set_title(f"{names[level]}: {len(values)} requests", fontsize=9, loc="left")
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("latency (ms, log scale), c=1, non-streamed, interleaved rounds")
    fig.suptitle("B1/B8: latency distribution per level")
    fig.tight_layout()
    fig.savefig(out / "b1_latency.png")
    plt.close(fig)

    # B2: throughput (solid, left axis) and p99 (dashed, right axis) against concurrency, one
    # panel per worker count; each level's p99 limit (2× idle) dotted and its knee marked.
    panels = sorted(k for k in b2 if k.startswith("workers_"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 6.0), squeeze=False)
    colors = {"L1": "tab:blue", "L2": "tab:orange"}
    for ax, name in zip(axes[0], panels, strict=True):
        data, right = b2[name], axes[0][panels.index(name)].twinx()
        for level in ("L1", "L2"):
            pts, curve = data[level]["points"], data[level]
            cs = [p["concurrency"] for p in pts]
            ax.plot(cs, [p["rps"] for p in pts], marker="o", color=colors[level], label=f"{level} throughput")
            right.plot(cs, [p["p99"] for p in pts], marker="x", linestyle="--", color=colors[level],
                       label=f"{level} p99")  # fmt: skip
            right.axhline(curve["limit_p99"], color=colors[level], linestyle=":", linewidth=1,
                          label=f"{level} p99 limit (2× idle) {curve['limit_p99']} ms")  # fmt: skip
            if curve.get("knee_concurrency"):
                ax.plot([curve["knee_concurrency"]], [curve["knee_rps"]], marker="*", markersize=16,
                        color=colors[level], markeredgecolor="black", linestyle="none",
                        label=f"{level} knee {curve['knee_rps']} req/s")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(cs, [str(c) for c in cs])
        ax.set_xlabel("concurrency (closed-loop clients)")
        ax.set_ylabel("throughput (req/s)")
        right.set_ylabel("p99 latency (ms)")
        right.set_yscale("log")
        right.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_ylim(bottom=0)
        ax.set_title(f"B2: {name.removeprefix('workers_')} worker(s), knee L2/L1 {data['ratio']}")
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
        ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(out / "b2_throughput.png")
    plt.close(fig)
    return ["b1_latency.png", "b2_throughput.png"]


def verdict(value: float, target: str) -> str:
    op, bound = target.split()
    met = value <= float(bound) if op == "≤" else value >= float(bound)
    return "met" if met else "**missed**"


def report(out: Path, results: dict[str, Any]) -> str:
    rows = hot_path_rows(results) if set(results) >= HOT_PATH else []
    rows += portal.rows(results)
    rows += fleet.rows(results)
    lines = [
        "# LLMaaS benchmark" if set(results).isdisjoint(HOT_PATH) else "# LLMaaS hot-path benchmark",
        "",
        f"Run {results['started']}, {'quick' if results['quick'] else 'full'} mode, on {results['machine']}.",
    ]
    if not set(results).isdisjoint(HOT_PATH):
        lines += [
            "L0 = backend direct, L1 = stock LiteLLM (same version and workers, master key, no hooks),",
            "L2 = LLMaaS through nginx (route gate, auth, admission, usage hook, shipper).",
        ]
    lines += ["", "| id | figure | value | detail | target | verdict |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {i} | {f} | {v} | {d} | {t} | {verdict(float(v), t)} |" for i, f, v, d, t in rows]
    if set(results) >= HOT_PATH:
        lines += hot_path_details(results)
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    return text


HOT_PATH = {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9"}
PORTAL = {"B10", "B11"}
FIGURES = sorted(HOT_PATH | PORTAL | fleet.FIGURES, key=lambda f: int(f[1:]))


def hot_path_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, str, str]]:
    b1, b2, b3, b4, b5, b6, b7, b8, b9 = (results[k] for k in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9"))
    pinning = b2["pinning"]
    return [
        ("B1", "added p50 latency (L2−L1)/(L1−L0)", b1["p50"]["ratio"], f"CI95 {b1['p50']['ci95']}", "≤ 0.10"),
        ("B1", "added p99 latency (L2−L1)/(L1−L0)", b1["p99"]["ratio"], f"CI95 {b1['p99']['ci95']}", "≤ 0.10"),
        ("B8", "full path vs stock, p50 (L2−L0)/(L1−L0)", b8["p50"]["ratio"],
         f"CI95 {b8['p50']['ci95']}, added {json.dumps(b8['p50']['added_ms'])} ms", "≤ 0.70"),
        ("B8", "full path vs stock, p99 (L2−L0)/(L1−L0)", b8["p99"]["ratio"],
         f"CI95 {b8['p99']['ci95']}, added {json.dumps(b8['p99']['added_ms'])} ms", "≤ 0.70"),
        ("B2", "throughput knee L2/L1, 1 worker", b2["workers_1"]["ratio"],
         f"{b2['workers_1']['L2']['knee_rps']} vs {b2['workers_1']['L1']['knee_rps']} req/s", "≥ 0.90"),
        ("B2", "throughput knee L2/L1, 2 workers", b2["workers_2"]["ratio"],
         f"{b2['workers_2']['L2']['knee_rps']} vs {b2['workers_2']['L1']['knee_rps']} req/s", "≥ 1.3"),
        ("B2", "worker scaling: L2 knee 2 workers / 1 worker", b2["scaling"]["L2"],
         f"L1 {b2['scaling']['L1']}; load generator on CPU {pinning['loadgen_cpus']}, proxies on "
         f"{pinning['proxy_cpus']} of {pinning['cpus']}", "≥ 1.7"),
        ("B3", "streaming TTFT L2/L1 (SmolLM2), median of per-prompt ratios", b3["ratio"],
         f"CI95 {b3['ci95']}, medians {b3['median_ms']} ms (their ratio {b3['ratio_of_medians']})", "≤ 1.05"),
        ("B4", "SQL statements/transactions per proxied request", b4["sql_transactions_per_request"],
         f"statements seen: {json.dumps(b4['sql_statements_seen_during_load'])}; "
         + json.dumps(b4["sql_transactions_raw"]), "≤ 0"),
        ("B4", "Redis round trips on the request path", b4["redis_round_trips_on_the_request_path"],
         f"after the response: {b4['redis_round_trips_after_the_response']}; all commands incl. in scripts: "
         + json.dumps(b4["redis_commands_per_request"]), "≤ 2"),
        ("B5", "ingest rows/s webhook / COPY", b5["ratio"],
         f"{b5['webhook_rows_per_s']} vs {b5['copy_rows_per_s']}, batches of {b5['batch']}", "≥ 0.25"),
        ("B6", "proxy worker RSS L2/L1", b6["ratio"], f"{b6['L2_mb']} vs {b6['L1_mb']} MB", "≤ 1.10"),
        ("B7", "soak errors (L2)", b7["L2"]["errors"], f"{b7['seconds']:.0f} s at {b7['rate']} req/s", "≤ 0"),
        ("B7", "soak RSS growth L2/L1", b7["growth_ratio"],
         f"{b7['L2']['growth_mb']} vs {b7['L1']['growth_mb']} MB (floored at 0.1)", "≤ 1.2"),
        ("B9", "API GET p50, OAuth Bearer JWT / session", b9["ratio"],
         f"CI95 {b9['ci95']}, p50 {json.dumps(b9['p50_ms'])} ms", "≤ 1.00"),
    ]  # fmt: skip


def hot_path_details(results: dict[str, Any]) -> list[str]:
    b1, b2 = results["B1"], results["B2"]
    lines = ["", "B1 percentiles (ms): " + json.dumps({k: b1[k] for k in ("p50", "p99")})]
    for name, data in ((k, v) for k, v in b2.items() if k.startswith("workers_")):
        for level in ("L1", "L2"):
            points = (f"c={p['concurrency']}: {p['rps']} req/s p99 {p['p99']} ms" for p in data[level]["points"])
            lines.append(f"B2 {name} {level}: " + ", ".join(points))
    lines += ["", "![B1](b1_latency.png)", "![B2](b2_throughput.png)", ""]
    return lines


def selected(only: str | None) -> set[str]:
    """The figures to run: all, or those named (the hot path's run together: one stack, and B7
    soaks at B2's knee)."""
    if not only:
        return set(FIGURES)
    wanted = {name.strip().upper() for name in only.split(",") if name.strip()}
    unknown = wanted - set(FIGURES)
    if unknown:
        raise SystemExit(f"--only: unknown figure(s) {', '.join(sorted(unknown))}; known: {', '.join(FIGURES)}")
    return (wanted & (PORTAL | fleet.FIGURES)) | (HOT_PATH if wanted & HOT_PATH else set())


def hot_path(bench: Bench, results: dict[str, Any], quick: bool) -> None:
    results["B1"] = b1_added_latency(bench, rounds=4 if quick else 10, per_round=40 if quick else 150)
    results["B8"] = b8_full_path(results["B1"]["raw"])
    results["B3"] = b3_ttft(bench, n=6 if quick else 60)
    results["B4"] = b4_statements(bench, n=200 if quick else 1000)
    results["B5"] = b5_ingest(bench, rows=4000 if quick else 20000, rounds=3 if quick else 5)
    levels = [1, 4, 16] if quick else [1, 2, 3, 4, 6, 8, 12, 16, 32]
    results["B2"] = b2_throughput(bench, levels, 1.5 if quick else 6, idle=(1, 60) if quick else (4, 150))
    results["B6"] = b6_rss(bench, warm_up=200 if quick else 500)
    results["B9"] = b9_api_auth(bench, rounds=4 if quick else 10, per_round=25 if quick else 100)
    knee_rps = min(results["B2"]["workers_2"]["L1"]["knee_rps"], results["B2"]["workers_2"]["L2"]["knee_rps"])
    results["B7"] = b7_soak(bench, knee_rps, 5 if quick else 600)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="a short run (under 3 minutes)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument(
        "--only", help=f"comma-separated figures, e.g. B10,B11 (of {', '.join(FIGURES)}; B1-B9 run together)"
    )
    args = parser.parse_args()
    figures = selected(args.only)
    out = Path(args.out).resolve()  # nginx and the stack need absolute paths
    out.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick}
    results["machine"] = f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores"
    files: list[str] = []
    if figures & HOT_PATH:
        bench = Bench(out / "state")
        say("starting the fast backend, SmolLM2, stock LiteLLM and the LLMaaS stack")
        try:
            bench.up()
            hot_path(bench, results, quick)
        finally:
            bench.down()
        files = plots(out, results["B1"], results["B2"])
        results["B1"].pop("raw")
    if "B10" in figures:
        results["B10"] = portal.b10_initial_js()
    if "B11" in figures:
        state = out / "state-portal"
        rows = 30_000 if quick else 300_000
        results["B11"] = portal.b11_dashboard_render(state, rounds=3 if quick else 10, rows=rows)
    if figures & fleet.FIGURES:
        results.update(fleet.run(out / "state-fleet", quick, figures))
    (out / "report.json").write_text(json.dumps(results, indent=2))
    print(report(out, results))
    say(f"report: {out / 'report.md'}, {out / 'report.json'}" + (f", plots: {', '.join(files)}" if files else ""))


if __name__ == "__main__":
    main()
