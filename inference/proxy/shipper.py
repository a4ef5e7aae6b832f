"""The shipper: drains the usage stream in batches to Django's webhook, at least once.

``python -m inference.proxy.shipper`` (plain Python: Redis + HTTP, no Django, no LiteLLM).

- Reads ``{p}:usage`` as consumer group ``shippers``; each process is its own consumer.
- POSTs ``{"records": [...]}`` to ``LLMAAS_WEBHOOK_URL`` signed with HMAC-SHA256 over
  timestamp + body (``LLMAAS_WEBHOOK_SECRET``), every retry signed afresh, with exponential
  backoff; acknowledges (XACK, then XDEL) only after a 2xx.
- Entries left pending by a shipper that died are claimed (XAUTOCLAIM) once idle for
  ``LLMAAS_SHIPPER_CLAIM_IDLE_MS``; the webhook's idempotency turns redelivery into a no-op.
- ``LLMAAS_SHIPPER_PARALLEL`` (2) batches are delivered at once, each by its own thread, while
  the main thread reads the next: the webhook's work on one batch (decoding, the contract, the
  COPY) overlaps another's, on more cores (bench B5). Batches are independent (each call is
  stored once, in any order); entries still in flight here are never claimed back by this shipper.
- A batch short of ``LLMAAS_SHIPPER_BATCH`` waits ``LLMAAS_SHIPPER_LINGER_MS`` (250) for more
  entries before it is sent: under load that turns a POST per few calls into one per quarter
  second, which is most of the ingest's cost (bench B2); usage shows up at most that much later.
- Deliveries and retries are counted in the Redis hash ``{p}:metrics`` (``shipper_deliveries``,
  ``shipper_retries``), which Django's ``/metrics`` reports: shippers run anywhere, Redis sums them.
- Records the webhook rejects (it stores the rest of the batch) go to ``{p}:usage:dead`` with
  the reason, the error and the time, and are counted by reason in ``{p}:usage:dead:counts``;
  ``manage.py usage_dead_letters`` lists and replays them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import Any

import httpx
import orjson
from redis.exceptions import RedisError, ResponseError

from inference.proxy.contract import USAGE_FIELD, RedisKeys
from inference.proxy.logs import configure
from inference.proxy.redis_conn import sync_redis
from inference.proxy.signing import signed_headers

log = logging.getLogger("llmaas.shipper")
GROUP = "shippers"
# Fields of the ``{p}:metrics`` hash (counters, never lowered).
DELIVERIES = "shipper_deliveries"
RETRIES = "shipper_retries"

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True)
class ShipperConfig:
    redis_url: str
    prefix: str
    webhook_url: str
    secret: str
    batch: int = 2000  # a POST's fixed costs (HTTP, transaction, commit) over more rows: bench B5
    max_body: int = 1024 * 1024
    claim_idle_ms: int = 10_000
    linger_ms: int = 250
    backoff_max: float = 10.0
    parallel: int = 2  # batches in flight at once (each its own POST): bench B5

    @classmethod
    def from_env(cls) -> ShipperConfig:
        return cls(
            redis_url=os.environ.get("LLMAAS_REDIS_URL", "redis://127.0.0.1:6379/0"),
            prefix=os.environ.get("LLMAAS_REDIS_PREFIX", "llmaas"),
            webhook_url=os.environ.get("LLMAAS_WEBHOOK_URL", "http://127.0.0.1:8002/api/webhooks/litellm"),
            secret=os.environ.get("LLMAAS_WEBHOOK_SECRET", "dev-insecure-webhook-secret"),
            batch=int(os.environ.get("LLMAAS_SHIPPER_BATCH", "2000")),
            claim_idle_ms=int(os.environ.get("LLMAAS_SHIPPER_CLAIM_IDLE_MS", "10000")),
            linger_ms=int(os.environ.get("LLMAAS_SHIPPER_LINGER_MS", "250")),
            backoff_max=float(os.environ.get("LLMAAS_SHIPPER_BACKOFF_MAX", "10")),
            parallel=max(1, int(os.environ.get("LLMAAS_SHIPPER_PARALLEL", "2"))),
        )


class Shipper:
    def __init__(self, config: ShipperConfig) -> None:
        self.config = config
        keys = RedisKeys(config.prefix)
        self.stream, self.dead, self.dead_counts = keys.usage_stream, keys.usage_dead, keys.usage_dead_counts
        self.counters = metrics_hash(keys)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.redis = sync_redis(config.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=config.parallel))
        self.stopping = False
        self.in_flight: set[bytes] = set()  # ids of the entries being delivered by this shipper
        self.lock = threading.Lock()

    def ensure_group(self) -> None:
        try:
            # From the start of the stream: records written before the first shipper count too.
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def next_batch(self) -> list[Entry]:
        """Entries abandoned by a dead shipper first, then new ones (blocking up to 1 s)."""
        entries = self._claim()
        if entries:
            return entries
        entries = self._read(self.config.batch, block=1000)
        if entries and len(entries) < self.config.batch and self.config.linger_ms > 0 and not self.stopping:
            time.sleep(self.config.linger_ms / 1000)  # let the batch fill up
            entries += self._read(self.config.batch - len(entries), block=None)
        return entries

    def _claim(self) -> list[Entry]:
        """Pending entries idle for ``claim_idle_ms``, except those this shipper is delivering
        (a delivery retried for longer than that is still its own: claiming it again would
        deliver, and dead-letter, the same entries twice); scanned past them to the end."""
        start: bytes | str = "0-0"
        while True:
            cursor, claimed, *_ = self.redis.xautoclaim(
                self.stream, GROUP, self.consumer, min_idle_time=self.config.claim_idle_ms,
                start_id=start, count=self.config.batch,
            )  # fmt: skip
            with self.lock:
                entries: list[Entry] = [e for e in claimed if e[1] and e[0] not in self.in_flight]
            if entries or cursor in (b"0-0", "0-0"):
                return entries
            start = cursor

    def _read(self, count: int, block: int | None) -> list[Entry]:
        response: Any = self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count, block=block)
        return [entry for _, batch in response or [] for entry in batch]

    def run(self) -> None:
        self.ensure_group()
        log.info("shipper %s: %s → %s", self.consumer, self.stream, self.config.webhook_url)
        with ThreadPoolExecutor(self.config.parallel, thread_name_prefix="deliver") as pool:
            self._loop(pool)  # leaving the pool waits for the deliveries in flight

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        backoff = 0.2
        slots = threading.Semaphore(self.config.parallel)
        while not self.stopping:
            if not slots.acquire(timeout=1):
                continue  # every slot's delivery is still in flight
            submitted = False
            try:
                entries = self.next_batch()
                if entries:
                    with self.lock:
                        self.in_flight.update(entry_id for entry_id, _ in entries)
                    done = functools.partial(self._shipped, entries=entries, slots=slots)
                    pool.submit(self.ship, entries).add_done_callback(done)
                    submitted = True
                backoff = 0.2
            except (RedisError, OSError) as exc:
                if "NOGROUP" in str(exc):
                    self.ensure_group()  # Redis restarted empty
                    continue
                log.warning("Redis unreachable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
            finally:
                if not submitted:
                    slots.release()  # the delivery thread releases it otherwise

    def _shipped(self, done: Future[None], *, entries: list[Entry], slots: threading.Semaphore) -> None:
        """A delivery thread ended: its entries are no longer in flight (acknowledged, or left
        pending for a shipper to claim when it failed), and its slot is free."""
        with self.lock:
            self.in_flight.difference_update(entry_id for entry_id, _ in entries)
        slots.release()
        error = done.exception()
        if error is not None and not isinstance(error, SystemExit):
            log.warning("delivery failed (%s); its entries stay pending and are claimed again", type(error).__name__)

    def _chunks(self, entries: list[Entry]) -> list[list[Entry]]:
        chunks: list[list[Entry]] = [[]]
        size = 0
        for entry in entries:
            length = len(entry[1].get(USAGE_FIELD.encode(), b""))
            if chunks[-1] and size + length > self.config.max_body:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += length + 1
        return chunks

    def ship(self, entries: list[Entry]) -> None:
        for chunk in self._chunks(entries):
            body = batch_body([fields.get(USAGE_FIELD.encode()) for _, fields in chunk])
            rejected = self.deliver(body, len(chunk))
            ids = [entry_id for entry_id, _ in chunk]
            now = f"{time.time():.3f}"
            pipe = self.redis.pipeline(transaction=False)
            for index, reason, error in rejected:
                entry_id, fields = chunk[index]
                letter = {**fields, b"reason": reason, b"error": error, b"at": now, b"entry": entry_id}
                pipe.xadd(self.dead, letter)  # type: ignore[arg-type]
                pipe.hincrby(self.dead_counts, reason, 1)
            if rejected:
                log.error("%d records dead-lettered: %s", len(rejected), [(r, e) for _, r, e in rejected[:5]])
            pipe.xack(self.stream, GROUP, *ids)
            pipe.xdel(self.stream, *ids)
            pipe.hincrby(self.counters, DELIVERIES, 1)
            pipe.execute()

    def deliver(self, body: bytes, count: int) -> list[tuple[int, str, str]]:
        """POST until a 2xx (signing each try afresh); returns what the webhook rejected:
        (index, reason, error) each, for a body of ``count`` records."""
        backoff = 0.2
        while True:
            try:
                headers = {"Content-Type": "application/json", **signed_headers(self.config.secret, body)}
                response = self.http.post(self.config.webhook_url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    return _rejections(response.json(), count)
                log.warning("webhook answered %s; retrying in %.1fs", response.status_code, backoff)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("webhook unreachable (%s); retrying in %.1fs", type(exc).__name__, backoff)
            if self.stopping:
                raise SystemExit(0)  # unacknowledged: the next shipper delivers it
            self._count_retry()
            time.sleep(backoff)
            backoff = min(backoff * 2, self.config.backoff_max)

    def _count_retry(self) -> None:
        # A metric never stops a delivery; Redis being down is reported by its own gauge.
        with contextlib.suppress(RedisError):
            self.redis.hincrby(self.counters, RETRIES, 1)


class _NotOrjson(Exception):
    pass


def _fragment(raw: bytes | None) -> orjson.Fragment | None:
    if raw is None:
        return None
    try:
        orjson.loads(raw)  # checked, then sent as written (no re-encoding)
    except orjson.JSONDecodeError as exc:
        raise _NotOrjson from exc
    return orjson.Fragment(raw)


def _parsed(raw: bytes | None) -> Any:
    try:
        return None if raw is None else json.loads(raw)
    except ValueError:
        return None


def batch_body(raws: list[bytes | None]) -> bytes:
    """The webhook's body ``{"records": [...]}`` for the stream's records as written (a record
    unreadable or missing is sent as null: the webhook reports it rejected, the shipper dead-letters
    it). orjson checks each and copies it as it is; a record only the standard library reads (NaN,
    an integer past 64 bits, a lone surrogate) sends the batch through it, and the contract judges it."""
    try:
        return orjson.dumps({"records": [_fragment(raw) for raw in raws]})
    except _NotOrjson:
        return json.dumps({"records": [_parsed(raw) for raw in raws]}, separators=(",", ":")).encode()


def metrics_hash(keys: RedisKeys) -> str:
    """The Redis hash of counters no single process holds (the budget reconcile's drift is there too)."""
    return f"{keys.prefix}:metrics"


def _rejections(answer: Any, count: int) -> list[tuple[int, str, str]]:
    """The webhook's ``rejected`` list, checked: a 2xx this shipper cannot read (an index missing
    or out of range) is a ValueError, and the batch is delivered again (the webhook's idempotency
    makes that safe) rather than acknowledged on a guess or crashing the shipper."""
    try:
        rejected = [
            (int(r["index"]), str(r.get("reason") or "contract"), str(r.get("error") or ""))
            for r in answer.get("rejected", [])
        ]
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable webhook answer ({type(exc).__name__})") from exc
    if any(not 0 <= index < count for index, _, _ in rejected):
        raise ValueError("the webhook rejected an index outside the batch")
    return rejected


def main() -> None:
    configure(loggers=("",))  # every logger (httpx's too): JSON lines or text, LLMAAS_LOG_FORMAT
    shipper = Shipper(ShipperConfig.from_env())

    def stop(signum: int, frame: FrameType | None) -> None:
        shipper.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    shipper.run()


if __name__ == "__main__":
    main()
