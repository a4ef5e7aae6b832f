"""Issue 18 item 5: each call's share of its backend's busy time (GPU-seconds) and its internal
cost, allocated by beat over closed windows behind a watermark; the usage summary shows both.
Calls go in through the real ingest."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from inference.models import Backend
from inference.services import deployment_set
from usage.gpu_cost import LONGEST_CALL, gpu_cost_allocate, split_busy_time, union_length
from usage.models import GpuCostWatermark, RequestLog
from usage.tests.factories import ingest, record, utc

T0 = utc(2026, 11, 3, 10)


def test_shares_split_each_instant_equally_and_sum_to_the_busy_time():
    # 0-4 alone 0-1, with b 1-2 (half each), with b and c 2-3 (thirds), a alone 3-4; d later alone.
    intervals = [(0.0, 4.0), (1.0, 3.0), (2.0, 3.0), (10.0, 11.5)]
    shares = split_busy_time(intervals)
    assert shares == pytest.approx([1 + 0.5 + 1 / 3 + 1, 0.5 + 1 / 3, 1 / 3, 1.5])
    assert sum(shares) == pytest.approx(union_length(intervals)) and union_length(intervals) == 5.5
    assert split_busy_time([(3.0, 3.0), (3.0, 5.0)]) == [0.0, 2.0]  # an instant call takes no time


def test_random_overlaps_always_sum_to_the_union():
    rng = random.Random(18)
    for _ in range(50):
        intervals = [(s, s + rng.random() * 3) for s in (rng.random() * 20 for _ in range(rng.randint(1, 40)))]
        assert sum(split_busy_time(intervals)) == pytest.approx(union_length(intervals), abs=1e-9)


@pytest.fixture
def fleet(db):
    """Two backends: ``gpu`` at $3.60/h on one GPU, ``pair`` at $7.20/h on GPUs 0,1 (the same
    $3.60 per GPU-hour); a deployment on each."""
    for name, cost, gpus in (("gpu", "3.60", ""), ("pair", "7.20", "0,1")):
        deployment = deployment_set(
            name=name, backend_url=f"http://{name}-host:8000/v1", upstream_model=name, context_window=4096
        )
        Backend.objects.filter(pk=deployment.backend_id).update(hourly_cost_usd=Decimal(cost), gpu_ids=gpus)
    return uuid.uuid4(), uuid.uuid4()


def calls(org, key, deployment: str, spans: list[tuple[float, float]]) -> list[str]:
    records = [
        record(org, key, T0 + timedelta(seconds=start), model=deployment, deployment_id=deployment, latency_ms=ms)
        for start, ms in spans
    ]
    ingest(records)
    return [r.call_id for r in records]


def gpu(call_ids: list[str]) -> list[tuple[Decimal | None, Decimal | None]]:
    rows = dict(RequestLog.objects.filter(call_id__in=call_ids).values_list("call_id", "gpu_seconds"))
    costs = dict(RequestLog.objects.filter(call_id__in=call_ids).values_list("call_id", "internal_cost"))
    return [(rows[c], costs[c]) for c in call_ids]


def test_it_allocates_closed_windows_once_at_the_backends_rate(fleet):
    org, key = fleet
    GpuCostWatermark.objects.create(pk=1, until=T0)
    # On "gpu": 0-4 s and 1-3 s overlap; on "pair" one call alone, 2 s, on two GPUs.
    first = calls(org, key, "gpu", [(0, 4000), (1, 2000)])
    second = calls(org, key, "pair", [(0, 2000)])
    late = calls(org, key, "gpu", [(50, 1000)])  # ends after the window below

    done = gpu_cost_allocate(until=T0 + timedelta(seconds=30))
    assert [a.calls for a in done] == [3] and GpuCostWatermark.objects.get().until == T0 + timedelta(seconds=30)
    assert gpu(first) == [
        (Decimal("3.000000"), Decimal("0.0030000000")),
        (Decimal("1.000000"), Decimal("0.0010000000")),
    ]
    # Two GPUs: 4 GPU-seconds for 2 s, costing what the pair costs for 2 s at $7.20/h (= 4 GPU-s at $3.60/h).
    assert gpu(second) == [(Decimal("4.000000"), Decimal("0.0040000000"))]
    assert gpu(late) == [(None, None)]

    assert gpu_cost_allocate(until=T0 + timedelta(seconds=30)) == []  # nothing left to do
    call_command("gpu_cost_allocate", "--until", (T0 + timedelta(seconds=60)).isoformat())
    assert gpu(late) == [(Decimal("1.000000"), Decimal("0.0010000000"))]
    assert gpu(first)[0] == (Decimal("3.000000"), Decimal("0.0030000000"))  # never rewritten


def test_a_call_is_split_with_neighbours_from_the_previous_window(fleet):
    org, key = fleet
    GpuCostWatermark.objects.create(pk=1, until=T0)
    early = calls(org, key, "gpu", [(0, 10_000)])  # 0-10 s
    gpu_cost_allocate(until=T0 + timedelta(seconds=5))  # nothing ended yet
    straddling = calls(org, key, "gpu", [(4, 4000)])  # 4-8 s, ingested after that run
    gpu_cost_allocate(until=T0 + timedelta(seconds=20))
    assert gpu(early + straddling) == [
        (Decimal("8.000000"), Decimal("0.0080000000")),
        (Decimal("2.000000"), Decimal("0.0020000000")),
    ]


def test_long_ranges_go_a_step_at_a_time_and_a_fresh_install_looks_back_a_day(fleet):
    org, key = fleet
    ids = calls(org, key, "gpu", [(0, 1000), (3 * 3600, 1000)])
    done = gpu_cost_allocate(until=T0 + timedelta(hours=4))
    assert done[0].start == T0 + timedelta(hours=4) - timedelta(days=1) and len(done) == 24
    assert sum(a.calls for a in done) == 2 and all(a.end - a.start <= LONGEST_CALL for a in done)
    assert [g for g, _ in gpu(ids)] == [Decimal("1.000000"), Decimal("1.000000")]


def test_a_call_of_a_deleted_deployment_or_without_one_stays_unallocated(fleet):
    org, key = fleet
    GpuCostWatermark.objects.create(pk=1, until=T0)
    orphan = calls(org, key, "gone", [(0, 1000)])
    refused = [record(org, key, T0, model="gpu", deployment_id=None, latency_ms=3.0)]
    ingest(refused)
    assert gpu_cost_allocate(until=T0 + timedelta(seconds=10))[0].calls == 0
    assert gpu([*orphan, refused[0].call_id]) == [(None, None), (None, None)]


def test_the_summary_shows_gpu_seconds_and_internal_cost_beside_the_list_price(team, api):
    deployment_set(name="gpu", backend_url="http://gpu-host:8000/v1", upstream_model="gpu", context_window=4096)
    Backend.objects.filter(name="gpu-host-8000").update(hourly_cost_usd=Decimal("3.60"))
    GpuCostWatermark.objects.create(pk=1, until=T0)
    key = team.keys["alice"]
    calls(team.org.id, key.id, "gpu", [(0, 2000), (100, 500)])
    calls(team.org.id, key.id, "gpu", [(7200, 1000)])  # its window is not closed yet
    calls(team.org.id, key.id, "deleted", [(60, 1000)])  # never allocated (no backend), never pending
    gpu_cost_allocate(until=T0 + timedelta(hours=1))
    params = {"granularity": "total", "start": T0.isoformat(), "end": (T0 + timedelta(hours=3)).isoformat()}
    client = api(team.people["alice"], team.org)

    body = client.get("/api/usage/summary", {**params, "internal_cost": "true"}).json()
    assert body["totals"]["requests"] == 4
    assert (body["totals"]["gpu_seconds"], body["totals"]["internal_cost_usd"]) == ("2.500000", "0.0025000000")
    assert body["totals"]["gpu_cost_pending"] == 1
    # Its list price is $0 (a self-hosted model); the internal cost above says what it cost.
    assert body["totals"]["cost_usd"] == "0.0000000000"
    assert "gpu_seconds" not in client.get("/api/usage/summary", params).json()["totals"]
    refused = client.get("/api/usage/summary", {**params, "internal_cost": "maybe"})
    assert refused.status_code == 400 and "internal_cost" in refused.json()["error"]["details"]
