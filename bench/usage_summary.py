"""Usage summaries at scale: ``GET /api/usage/summary`` against a raw scan of the same rows.

    .venv/bin/python -m bench.usage_summary [--rows 5000000] [--quick] [--out bench/out]

A fresh database gets N synthetic request logs (``manage.py usage_generate``: one organization,
30 days, 20 keys, 4 models, 2,000 end users), rolled up, plus a not-yet-rolled tail in the
current hour written through the real ingest. Each dashboard query is then timed, in shuffled
interleaved rounds, through the API (in-process Django client: auth, org, validation, rollups +
tail, totals, JSON) and as the obvious SQL over request_logs giving the same rows. Targets:
summary ≤ 0.02× the raw scan and ≤ 200 ms. Writes usage_summary.md and usage_summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.run import bootstrap, say
from stack.stack import ROOT, drop_database, ensure_database

MODELS = (("chat-small", "0.10", "0.20"), ("chat-large", "2.50", "10.00"), ("embed", "0.02", "0"),
          ("code", "1.00", "3.00"))  # fmt: skip
GROUP_SQL = {None: "NULL::text", "model": "model", "key": "key_id::text", "end_user": "coalesce(end_user, '')"}
QUERIES = [  # (name, days back, granularity, group_by)
    ("30 days by day", 30, "day", None),
    ("30 days by day × model", 30, "day", "model"),
    ("30 days by month × key", 30, "month", "key"),
    ("7 days by hour × model", 7, "hour", "model"),
    ("30 days in total × end user", 30, "total", "end_user"),
]
TARGET_RATIO, TARGET_MS = 0.02, 200.0


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=False,
                            stdout=subprocess.PIPE, text=True, check=True)  # fmt: skip
    return result.stdout


def prepare(env: dict[str, str], rows: int) -> dict[str, Any]:
    say("migrating a fresh database")
    manage(env, "migrate", "--noinput", "-v", "0")
    for name, price_in, price_out in MODELS:
        manage(env, "catalog_set", name, "--backend-url", "http://127.0.0.1:9/v1", "--upstream-model", name,
               "--context-window", "8192", "--input-price", price_in, "--output-price", price_out)  # fmt: skip
    owner = "from accounts.models import User; User.objects.create_superuser('bench@llmaas.local', 'x')"
    manage(env, "shell", "-c", owner)
    say(f"generating {rows:,} request logs")
    started = time.monotonic()
    manage(env, "usage_generate", "--rows", str(rows), "--days", "30", "--keys", "20", "--end-users", "2000",
           "--no-progress")  # fmt: skip
    generated = time.monotonic() - started
    say("rolling them up")
    started = time.monotonic()
    manage(env, "shell", "-c", "from usage.rollups import aggregate_usage; aggregate_usage()")
    rolled = time.monotonic() - started
    return {
        "rows": rows,
        "generate_s": round(generated, 1),
        "generate_rows_per_s": round(rows / generated),
        "aggregate_s": round(rolled, 1),
        "aggregate_rows_per_s": round(rows / rolled),
    }


def measure(rounds: int, tail: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Organization, User
    from inference.proxy.contract import UsageRecord
    from keys.models import ApiKey
    from usage.models import UsageDaily, UsageDelta, UsageHourly
    from usage.services import request_logs_ingest

    org = Organization.objects.get(name="Synthetic 1")
    keys = list(ApiKey.objects.filter(organization=org).values_list("id", flat=True))
    now = timezone.now()
    rng = random.Random(11)
    say(f"writing a not-yet-rolled tail of {tail:,} calls in the current hour through the ingest")
    since = now.replace(minute=0, second=0, microsecond=0)
    records = [
        UsageRecord(call_id=f"tail-{uuid.uuid4().hex}", org_id=str(org.id), key_id=str(rng.choice(keys)), user_id=None,
                    model=rng.choice(MODELS)[0], deployment_id=None, prompt_tokens=rng.randrange(1, 3000),
                    completion_tokens=rng.randrange(1, 800), latency_ms=100.0, ttft_ms=None, status="success",
                    error_type=None, stream=False, end_user=f"user-{rng.randrange(2000)}",
                    created_at=(since + (now - since) * rng.random()).timestamp())
        for _ in range(tail)
    ]  # fmt: skip
    for i in range(0, len(records), 500):
        request_logs_ingest(records=records[i : i + 500])
    with connection.cursor() as cursor:
        # What autovacuum does within a minute of the rollup deleting its deltas (tens of thousands
        # here, in one go): the summaries' look-up of dirty hours would otherwise step over them.
        cursor.execute("VACUUM ANALYZE")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(email="bench@llmaas.local"))
    end = timezone.now() + timedelta(seconds=1)

    def api(days: int, granularity: str, group_by: str | None) -> tuple[float, dict[str, Any]]:
        params = {"start": (end - timedelta(days=days)).isoformat(), "end": end.isoformat(),
                  "granularity": granularity, "limit": "10000"}  # fmt: skip
        if group_by:
            params["group_by"] = group_by
        started = time.perf_counter()
        response = client.get("/api/usage/summary", params, HTTP_LLMAAS_ORGANIZATION=str(org.id))
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:300]
        return elapsed, response.json()

    def raw(days: int, granularity: str, group_by: str | None) -> tuple[float, list[tuple[Any, ...]]]:
        bucket = "NULL::timestamptz" if granularity == "total" else f"date_trunc('{granularity}', created_at, 'UTC')"
        sql = (
            f"SELECT {bucket}, {GROUP_SQL[group_by]}, count(*), count(*) FILTER (WHERE status <> 'success'), "
            "sum(prompt_tokens), sum(completion_tokens), sum(cost) FROM request_logs "
            "WHERE org_id = %s AND created_at >= %s AND created_at < %s GROUP BY 1, 2"
        )
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, [org.id, end - timedelta(days=days), end])
            rows = cursor.fetchall()
        return time.perf_counter() - started, rows

    samples: dict[str, dict[str, list[float]]] = {q[0]: {"summary": [], "raw": []} for q in QUERIES}
    checks: dict[str, bool] = {}
    for name, days, granularity, group_by in QUERIES:  # warm-up, and the summaries are checked exact
        _, body = api(days, granularity, group_by)
        _, rows = raw(days, granularity, group_by)
        checks[name] = (
            body["totals"]["requests"] == sum(r[2] for r in rows)
            and Decimal(body["totals"]["cost_usd"]) == sum((r[6] for r in rows), Decimal(0))
            and len(body["results"]) == len(rows)
        )
    say(f"timing {len(QUERIES)} queries × 2 ways × {rounds} shuffled rounds")
    for _ in range(rounds):
        order = [(q, way) for q in QUERIES for way in ("summary", "raw")]
        rng.shuffle(order)
        for (name, days, granularity, group_by), way in order:
            elapsed, _ = (api if way == "summary" else raw)(days, granularity, group_by)
            samples[name][way].append(elapsed * 1000)
    results = []
    for name, *_ in QUERIES:
        s = samples[name]
        ratio = statistics.median(s["summary"]) / statistics.median(s["raw"])
        low, high = bootstrap(s, lambda x: statistics.median(x["summary"]) / statistics.median(x["raw"]))
        results.append({
            "query": name,
            "summary_p50_ms": round(statistics.median(s["summary"]), 2),
            "raw_p50_ms": round(statistics.median(s["raw"]), 1),
            "ratio": round(ratio, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "exact": checks[name],
            "met": ratio <= TARGET_RATIO and statistics.median(s["summary"]) <= TARGET_MS and checks[name],
        })  # fmt: skip
    return {
        "results": results,
        "tail_rows": tail,
        "dirty_hours": UsageDelta.objects.filter(org_id=org.id, level=2).values("bucket").distinct().count(),
        "rollup_rows": {"hourly": UsageHourly.objects.count(), "daily": UsageDaily.objects.count()},
    }


def report(out: Path, data: dict[str, Any]) -> str:
    prep = data["prepare"]
    lines = [
        "# Usage summary benchmark",
        "",
        f"Run {data['started']} on {data['machine']}: {prep['rows']:,} request logs in one organization over 30 days "
        f"(generated at {prep['generate_rows_per_s']:,} rows/s, rolled up in {prep['aggregate_s']} s = "
        f"{prep['aggregate_rows_per_s']:,} rows/s), plus {data['tail_rows']:,} calls not rolled up yet "
        f"({data['dirty_hours']} dirty hour). Rollup rows: {data['rollup_rows']}.",
        "",
        "Summary = `GET /api/usage/summary` in-process (auth, validation, rollups + tail, totals, JSON); raw = the "
        "same rows by one SQL aggregate over request_logs. Medians of the interleaved rounds; 95 % bootstrap CI.",
        "",
        f"| query | summary p50 ms | raw scan p50 ms | ratio | CI95 | exact | target ≤ {TARGET_RATIO}× and ≤ "
        f"{TARGET_MS:.0f} ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['query']} | {r['summary_p50_ms']} | {r['raw_p50_ms']} | {r['ratio']} | {r['ci95']} | "
        f"{'yes' if r['exact'] else '**no**'} | {'met' if r['met'] else '**missed**'} |"
        for r in data["results"]
    ]
    text = "\n".join(lines) + "\n"
    (out / "usage_summary.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.usage_summary")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--quick", action="store_true", help="500k rows, 3 rounds")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    rows, rounds = (500_000, 3) if args.quick else (args.rows, args.rounds)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    url = f"postgres://postgres@127.0.0.1:5432/llmaas_bench_usage_{run}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmaas.settings", "LLMAAS_DATABASE_URL": url,
           "LLMAAS_REDIS_PREFIX": f"llmaas-bench-usage-{run}", "LLMAAS_CELERY_EAGER": "1",
           "LLMAAS_LOG_LEVEL": "WARNING"}  # fmt: skip
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "LLMAAS_DATABASE_URL", "LLMAAS_REDIS_PREFIX",
                                           "LLMAAS_LOG_LEVEL")})  # fmt: skip
    ensure_database(url)
    data: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    data["machine"] = f"{os.cpu_count()} cores"
    try:
        data["prepare"] = prepare(env, rows)
        data.update(measure(rounds, tail=max(1000, rows // 1000)))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(url)
            import redis

            client = redis.Redis.from_url(os.environ.get("LLMAAS_REDIS_URL", "redis://127.0.0.1:6379/0"))
            for name in client.scan_iter(match=f"llmaas-bench-usage-{run}:*"):
                client.delete(name)
    (out / "usage_summary.json").write_text(json.dumps(data, indent=2, default=str))
    print(report(out, data))
    say(f"report: {out / 'usage_summary.md'}")


if __name__ == "__main__":
    main()
