"""End to end on the whole stack: rollups survive kill -9 of the Celery worker mid-aggregation, a
spent budget refuses the next call at the proxy, and a million-row export streams in flat memory."""

from __future__ import annotations

import csv
import json
import threading
import time
from decimal import Decimal

import httpx
import psutil
import pytest

from inference.proxy.signing import signed_headers
from inference.tests.test_data_plane import poll

pytestmark = pytest.mark.stack
TINY = {"model": "tiny", "messages": [{"role": "user", "content": "count"}], "max_tokens": 2, "temperature": 0}


def chat(e2e, key: str) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions", json=TINY, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def key_org(e2e, key_id: object) -> str:
    return str(e2e.sql("SELECT organization_id::text FROM keys_apikey WHERE id = %s", key_id)[0][0])


def rollups_match_raw(e2e, org_id: str) -> bool:
    """Every rollup table holds exactly what a direct SQL sum over request_logs says."""
    raw = e2e.sql(
        "SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0), coalesce(sum(cost), 0) "
        "FROM request_logs WHERE org_id = %s",
        org_id,
    )[0]
    for table in ("usage_hourly", "usage_daily", "monthly_usage"):
        rolled = e2e.sql(
            f"SELECT coalesce(sum(requests), 0), coalesce(sum(prompt_tokens + completion_tokens), 0), "
            f"coalesce(sum(cost), 0) FROM {table} WHERE org_id = %s AND level = 0",
            org_id,
        )[0]
        if tuple(rolled) != tuple(raw):
            return False
    return True


def test_kill_9_of_the_celery_worker_mid_aggregation_leaves_rollups_equal_to_raw_sums(e2e):
    session = e2e.login()
    key = e2e.create_key(session, name="rollups", models=["tiny"])
    org_id = key_org(e2e, key["id"])
    paused = e2e.hooks / "aggregate.hours.paused"
    (e2e.hooks / "aggregate.hours.arm").touch()  # the next aggregation with work stops after its hours
    calls = [chat(e2e, str(key["secret"])) for _ in range(12)]
    assert all(r.status_code == 200 for r in calls)
    ids = [r.headers["x-litellm-call-id"] for r in calls]
    assert poll(lambda: e2e.sql("SELECT count(*) FROM request_logs WHERE call_id = ANY(%s)", ids)[0][0] == 12, 60)
    assert poll(paused.exists, timeout=60), "the aggregation never reached its pause point"
    pid = int(paused.read_text())
    # Inside its transaction the worker has taken the deltas and rewritten the hours: nothing of it
    # is committed, so this org's new hours still have their deltas for everyone else.
    assert e2e.sql("SELECT count(*) FROM usage_deltas WHERE org_id = %s", org_id)[0][0] > 0

    victim = psutil.Process(pid)
    assert "worker" in victim.cmdline()  # the Celery worker runs it (beat only enqueues)
    e2e.stack.supervisor.restart("celery-worker", kill=True)
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE, (victim.cmdline(), victim.status())
    assert poll(
        lambda: (
            e2e.sql("SELECT count(*) FROM usage_deltas WHERE org_id = %s", org_id)[0][0] == 0
            and rollups_match_raw(e2e, org_id)
        ),
        timeout=90,
        every=0.5,
    ), "rollups differ from request_logs after the restart"


def test_at_100_percent_of_a_budget_the_next_call_is_refused(e2e):
    session = e2e.login()
    key = e2e.create_key(session, name="budgeted", models=["tiny"], budget_usd="0.50")
    assert chat(e2e, str(key["secret"])).status_code == 200
    org_id = key_org(e2e, key["id"])
    # Spend that PostgreSQL knows and this proxy's Redis counters never saw (say, a call of another
    # region's proxy, delivered by its shipper): only check_budgets' block can refuse the next call.
    spent = {"v": 1, "call_id": "elsewhere-1", "org_id": org_id, "key_id": key["id"], "user_id": None,
             "model": "tiny", "deployment_id": None, "prompt_tokens": 400_000, "completion_tokens": 0,
             "latency_ms": 5.0, "ttft_ms": None, "status": "success", "error_type": None, "stream": False,
             "end_user": None, "created_at": time.time(), "tokens_estimated": False, "chat": None}  # fmt: skip
    body = json.dumps({"records": [spent]}).encode()  # 400k tokens at $1.5/M: $0.60 of a $0.50 budget
    secret = e2e.stack.secret("LLMAAS_WEBHOOK_SECRET")
    delivered = httpx.post(
        f"http://127.0.0.1:{e2e.stack.config.django_port}/api/webhooks/litellm",
        content=body,
        headers={"Content-Type": "application/json", **signed_headers(secret, body)},
    )
    assert delivered.status_code == 200 and delivered.json()["inserted"] == 1, delivered.text

    def refused() -> bool:
        response = chat(e2e, str(key["secret"]))
        return response.status_code == 429 and response.json()["error"]["code"] == "insufficient_quota"

    assert poll(refused, timeout=30, every=0.5)
    notes = session.get("/api/notifications/", headers={"LLMaaS-Organization": org_id}).json()["results"]
    assert any(n["title"].startswith("Budget exhausted") for n in notes)


class RssWatch:
    """Samples the RSS of every gunicorn worker while an export runs."""

    def __init__(self, master_pid: int) -> None:
        self.workers = psutil.Process(master_pid).children()
        self.baseline = {w.pid: w.memory_info().rss for w in self.workers}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for w in self.workers:
                self.peak[w.pid] = max(self.peak[w.pid], w.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(self.peak[pid] - self.baseline[pid] for pid in self.baseline) / 2**20


def test_a_million_row_export_streams_in_flat_memory_and_parses_back_to_the_same_totals(e2e):
    e2e.stack.manage("usage_generate", "--rows", "1000000", "--days", "5", "--orgs", "1", "--keys", "4",
                     "--no-progress")  # fmt: skip
    org_id = str(e2e.sql("SELECT id::text FROM accounts_organization WHERE name = 'Synthetic 1'")[0][0])
    expected = e2e.sql(
        "SELECT count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost) FROM request_logs WHERE org_id = %s",
        org_id,
    )[0]
    assert expected[0] > 990_000  # a few land after "now" and are not generated
    session = e2e.login()
    session.headers["LLMaaS-Organization"] = org_id
    master = e2e.stack.supervisor.procs["django"].popen
    assert master is not None

    for fmt in ("csv", "json"):
        size = 0
        with RssWatch(master.pid) as watch, session.stream(
            "GET", "/api/usage/logs/export", params={"format": fmt}, timeout=300
        ) as response:  # fmt: skip
            assert response.status_code == 200, response.read()[:500]
            if fmt == "csv":
                lines = (line for line in response.iter_lines())
                rows = csv.DictReader(lines)
                count = prompt = completion = 0
                cost = Decimal(0)
                for count, row in enumerate(rows, start=1):  # noqa: B007 - the last count is the total
                    prompt += int(row["prompt_tokens"])
                    completion += int(row["completion_tokens"])
                    cost += Decimal(row["cost_usd"])
            else:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                parsed = json.loads(body)
                count = len(parsed)
                prompt = sum(r["prompt_tokens"] for r in parsed)
                completion = sum(r["completion_tokens"] for r in parsed)
                cost = sum((Decimal(r["cost_usd"]) for r in parsed), Decimal(0))
                size = len(body)
                del parsed, body
        print(f"{fmt} export: {count} rows, worker RSS growth {watch.growth_mb:.1f} MB")
        assert (count, prompt, completion, cost) == tuple(expected), fmt
        # The export is hundreds of MB; a worker that buffered it would grow by as much.
        assert watch.growth_mb < 40, f"{fmt}: a gunicorn worker grew by {watch.growth_mb:.1f} MB"
        if fmt == "json":
            assert size > 200 * 2**20
