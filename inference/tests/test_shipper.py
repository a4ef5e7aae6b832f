"""The shipper against a real Redis stream and the real webhook (Django's live server)."""

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import redis as redis_lib

from inference.proxy.contract import USAGE_FIELD, RedisKeys
from inference.proxy.shipper import (
    DELIVERIES,
    GROUP,
    RETRIES,
    Shipper,
    ShipperConfig,
    _rejections,
    batch_body,
    metrics_hash,
)
from usage.models import RequestLog
from webhooks.tests.test_litellm_webhook import record


@pytest.fixture
def prefix(redis_prefix):
    return redis_prefix.prefix


def shipper_for(live_server, settings, prefix, **overrides) -> Shipper:
    config = ShipperConfig(
        redis_url="redis://127.0.0.1:6379/0",
        prefix=prefix,
        webhook_url=f"{live_server.url}/api/webhooks/litellm",
        secret=settings.WEBHOOK_SECRET,
        claim_idle_ms=200,
        backoff_max=0.2,
        **overrides,
    )
    return Shipper(config)


def run_until(shipper: Shipper, done, timeout: float = 20.0) -> None:
    thread = threading.Thread(target=shipper.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done():
            time.sleep(0.05)
    finally:
        shipper.stopping = True
        thread.join(10)
    assert done()


def push(client, prefix, records) -> None:
    for rec in records:
        client.xadd(RedisKeys(prefix).usage_stream, {USAGE_FIELD: json.dumps(rec)})


def test_it_delivers_the_stream_and_empties_it(live_server, settings, prefix):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    records = [record() for _ in range(1203)]
    push(client, prefix, records)
    shipper = shipper_for(live_server, settings, prefix, batch=500)
    run_until(shipper, lambda: RequestLog.objects.count() == 1203)
    assert set(RequestLog.objects.values_list("call_id", flat=True)) == {r["call_id"] for r in records}
    stream = RedisKeys(prefix).usage_stream
    assert client.xlen(stream) == 0
    assert client.xpending(stream, GROUP)["pending"] == 0


def test_a_dead_shippers_pending_entries_are_claimed_by_the_next(live_server, settings, prefix):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    records = [record() for _ in range(20)]
    push(client, prefix, records)
    dead = shipper_for(live_server, settings, prefix)
    dead.ensure_group()
    assert len(dead.next_batch()) == 20  # read, then "killed" before delivering
    assert client.xpending(RedisKeys(prefix).usage_stream, GROUP)["pending"] == 20

    heir = shipper_for(live_server, settings, prefix)
    heir.consumer = "heir"
    run_until(heir, lambda: RequestLog.objects.count() == 20)
    assert client.xpending(RedisKeys(prefix).usage_stream, GROUP)["pending"] == 0


def test_it_retries_until_the_webhook_accepts_and_writes_once(live_server, settings, prefix):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    records = [record() for _ in range(5)]
    push(client, prefix, records)
    shipper = shipper_for(live_server, settings, prefix)
    shipper.config = ShipperConfig(**{**shipper.config.__dict__, "secret": "wrong-secret"})
    thread = threading.Thread(target=shipper.run, daemon=True)
    thread.start()
    time.sleep(1.0)  # refused (401) several times meanwhile
    assert RequestLog.objects.count() == 0
    shipper.config = ShipperConfig(**{**shipper.config.__dict__, "secret": settings.WEBHOOK_SECRET})
    deadline = time.monotonic() + 20
    while RequestLog.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    shipper.stopping = True
    thread.join(10)
    assert RequestLog.objects.count() == 5
    # Counted for /metrics in Redis, summed over every shipper: each refused try, one delivery.
    counters = client.hgetall(metrics_hash(RedisKeys(prefix)))
    assert int(counters[RETRIES.encode()]) >= 2
    assert int(counters[DELIVERIES.encode()]) == 1


def test_records_the_webhook_rejects_go_to_the_dead_letter_stream(live_server, settings, prefix):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    good, bad = record(), record(status="bogus")
    push(client, prefix, [good, bad])
    shipper = shipper_for(live_server, settings, prefix)
    dead_stream = RedisKeys(prefix).usage_stream + ":dead"
    run_until(shipper, lambda: client.xlen(dead_stream) == 1)
    assert list(RequestLog.objects.values_list("call_id", flat=True)) == [good["call_id"]]
    ((_, fields),) = client.xrange(dead_stream)
    assert json.loads(fields[USAGE_FIELD.encode()])["call_id"] == bad["call_id"]


def test_a_short_batch_lingers_for_the_entries_that_follow(prefix):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    config = ShipperConfig("redis://127.0.0.1:6379/0", prefix, "http://127.0.0.1:9/unused", "s", linger_ms=1500)
    shipper = Shipper(config)
    shipper.ensure_group()
    push(client, prefix, [record()])
    later = threading.Timer(0.3, push, (client, prefix, [record() for _ in range(4)]))
    later.start()
    try:
        assert len(shipper.next_batch()) == 5  # one POST for the five, not one for the first alone
    finally:
        later.join()
    push(client, prefix, [record() for _ in range(3)])
    assert len(Shipper(replace(config, linger_ms=0)).next_batch()) == 3  # off: what is there


def test_a_record_that_cannot_be_stored_is_dead_lettered_with_its_reason_and_the_stream_drains(
    live_server, settings, prefix
):
    """A NUL (PostgreSQL refuses it) used to answer 500 for the whole batch, retried forever:
    every tenant's usage stopped. Now the rest is stored, the record waits in the dead-letter
    stream with its reason and time, a counter by reason counts it, and nothing stays pending."""
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = RedisKeys(prefix)
    before = [record() for _ in range(3)]
    bad = record(end_user="ab\x00cd")
    poisoned_chat = record(chat={"messages": [{"role": "user", "content": "a\x00b"}], "response": None})
    after = [record() for _ in range(3)]
    push(client, prefix, [*before, bad, poisoned_chat, *after])
    shipper = shipper_for(live_server, settings, prefix)
    run_until(shipper, lambda: client.xlen(keys.usage_dead) == 2 and client.xlen(keys.usage_stream) == 0)
    stored = set(RequestLog.objects.values_list("call_id", flat=True))
    assert stored == {r["call_id"] for r in before + after}
    letters = {json.loads(f[USAGE_FIELD.encode()])["call_id"]: f for _, f in client.xrange(keys.usage_dead)}
    assert letters[bad["call_id"]][b"reason"] == b"contract"
    assert b"end_user" in letters[bad["call_id"]][b"error"]
    assert letters[poisoned_chat["call_id"]][b"reason"] == b"database"
    assert abs(float(letters[bad["call_id"]][b"at"]) - time.time()) < 600
    assert client.hgetall(keys.usage_dead_counts) == {b"contract": b"1", b"database": b"1"}
    assert client.xpending(keys.usage_stream, GROUP)["pending"] == 0


@pytest.mark.parametrize(
    "answer",
    [{"rejected": [{"reason": "contract"}]}, {"rejected": [{"index": 5}]}, {"rejected": [{"index": -1}]}, []],
)
def test_an_unreadable_webhook_answer_is_delivered_again_not_acknowledged_on_a_guess(answer):
    # It used to crash the shipper (KeyError/IndexError outside its retry loop).
    with pytest.raises(ValueError):
        _rejections(answer, 3)
    assert _rejections({"rejected": [{"index": 2, "reason": "late", "error": "old"}]}, 3) == [(2, "late", "old")]
    assert _rejections({"inserted": 3}, 3) == []


class _Relay(ThreadingHTTPServer):
    """Forwards each POST to the real webhook after a pause, counting the deliveries in flight."""

    def __init__(self, target: str) -> None:
        self.target, self.lock, self.now, self.most = target, threading.Lock(), 0, 0
        super().__init__(("127.0.0.1", 0), _RelayHandler)


class _RelayHandler(BaseHTTPRequestHandler):
    server: _Relay

    def do_POST(self) -> None:
        with self.server.lock:
            self.server.now += 1
            self.server.most = max(self.server.most, self.server.now)
        try:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(0.3)  # long enough for every delivery the shipper may start to overlap
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("content-type", "x-"))}
            answer = httpx.post(self.server.target, content=body, headers=headers, timeout=30)
        finally:
            with self.server.lock:
                self.server.now -= 1
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("parallel", [1, 2])
def test_it_has_as_many_batches_in_flight_as_configured_and_stores_each_call_once(
    live_server, settings, prefix, parallel
):
    client = redis_lib.Redis.from_url("redis://127.0.0.1:6379/0")
    records = [record() for _ in range(60)]
    push(client, prefix, records)
    relay = _Relay(f"{live_server.url}/api/webhooks/litellm")
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        shipper = shipper_for(live_server, settings, prefix, batch=10, linger_ms=0, parallel=parallel)
        shipper.config = replace(shipper.config, webhook_url=f"http://127.0.0.1:{relay.server_port}/")
        run_until(shipper, lambda: RequestLog.objects.count() == 60)
    finally:
        relay.shutdown()
    assert relay.most == parallel
    assert sorted(RequestLog.objects.values_list("call_id", flat=True)) == sorted(r["call_id"] for r in records)
    assert client.xpending(RedisKeys(prefix).usage_stream, GROUP)["pending"] == 0
    assert int(client.hget(metrics_hash(RedisKeys(prefix)), DELIVERIES)) == 6


def test_the_body_carries_each_record_as_written_and_unreadable_ones_as_null():
    good = json.dumps(record()).encode()
    assert json.loads(batch_body([good, b"{not json", None])) == {"records": [json.loads(good), None, None]}
    # A record only the standard library reads (orjson refuses NaN) still goes, for the contract to judge.
    odd = json.dumps(record(latency_ms=float("nan"))).encode()
    body = json.loads(batch_body([good, odd]))
    assert body["records"][0] == json.loads(good) and body["records"][1]["call_id"] == json.loads(odd)["call_id"]
