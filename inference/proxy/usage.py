"""The usage hook: one record per finished call (success, failure, cancelled, rejected, 429),
appended to the Redis stream ``{p}:usage`` without blocking the response.

Records go through a per-worker buffer drained by a background task; if Redis cannot take
them they stay buffered and are retried (the proxy refuses new calls meanwhile: fail closed),
so a Redis blip loses nothing. The shipper (shipper.py) takes them from the stream to Django.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from redis.exceptions import RedisError

from inference.proxy.admission import Admission
from inference.proxy.contract import (
    STATUS_CANCELLED,
    STATUS_SUCCESS,
    USAGE_FIELD,
    RedisKeys,
    UsageRecord,
)
from inference.proxy.redis_conn import async_redis
from inference.proxy.settings import SETTINGS
from inference.proxy.usage_records import UnidentifiedRejections, usage_record

log = logging.getLogger("llmaas.proxy.usage")
BATCH = 500
MAX_BUFFER = 200_000
# Records a second, per worker, of calls refused before a caller was identified (see
# UnidentifiedRejections): a flood of bad keys must not become a flood of request_logs rows.
UNIDENTIFIED_PER_SECOND = float(os.environ.get("LLMAAS_UNIDENTIFIED_REJECTIONS_PER_SECOND", "2"))
UNIDENTIFIED_BURST = float(os.environ.get("LLMAAS_UNIDENTIFIED_REJECTIONS_BURST", "10"))


class UsageLogger(CustomLogger):
    def __init__(self, redis_url: str, keys: RedisKeys) -> None:
        super().__init__()
        self.stream = keys.usage_stream
        self.redis = async_redis(redis_url, timeout=2)
        self.admission = Admission(self.redis, keys, SETTINGS.reservation_ttl)
        self.buffer: deque[str] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.unidentified = UnidentifiedRejections(UNIDENTIFIED_PER_SECOND, UNIDENTIFIED_BURST)

    # --- LiteLLM callbacks --------------------------------------------------------------------
    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        record = usage_record(kwargs, ok=True)
        self._add(record)
        await self._settle(kwargs, record)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        record = usage_record(kwargs, ok=False, exception=kwargs.get("exception"))
        self._add(record)
        await self._settle(kwargs, record)

    async def _settle(self, kwargs: Any, record: UsageRecord | None) -> None:
        """Charge the call's real cost and free its reservation (a failed call costs nothing)."""
        slo = kwargs.get("standard_logging_object") or {}
        metadata = (slo.get("metadata") or {}).get("user_api_key_auth_metadata") or {}
        if record is None or not metadata.get("llmaas_reservation"):
            return
        billed = record.status in (STATUS_SUCCESS, STATUS_CANCELLED)
        try:
            await self.admission.settle(
                metadata, record.prompt_tokens if billed else 0, record.completion_tokens if billed else 0
            )
        except (RedisError, OSError) as exc:
            # The reservation expires on its own; PostgreSQL has the call, and reconcile fixes the spend.
            log.warning("settling a reservation failed (%s)", type(exc).__name__)

    # --- buffer → stream -----------------------------------------------------------------------
    def _add(self, record: UsageRecord | None) -> None:
        if record is None:
            return
        if not self.unidentified.keep(record):
            skipped = self.unidentified.report()
            if skipped:
                log.warning(
                    "%d rejections of unidentified callers not recorded in the last minute (%d in all; at most "
                    "%g a second are)", skipped, self.unidentified.skipped_total, UNIDENTIFIED_PER_SECOND
                )  # fmt: skip
            return
        if len(self.buffer) >= MAX_BUFFER:
            self.dropped += 1
            log.error("usage buffer full (Redis unreachable for long): dropped %d records so far", self.dropped)
            return
        self.buffer.append(record.to_json())
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._drain())
        assert self._wake is not None
        self._wake.set()

    async def _drain(self) -> None:
        assert self._wake is not None
        backoff = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.buffer:
                batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
                try:
                    pipe = self.redis.pipeline(transaction=False)
                    for item in batch:
                        pipe.xadd(self.stream, {USAGE_FIELD: item})
                    await pipe.execute()
                except (RedisError, OSError) as exc:
                    # A partial write is retried whole: the webhook stores each call id once.
                    log.warning(
                        "usage stream unreachable (%s); %d records buffered", type(exc).__name__, len(self.buffer)
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                for _ in batch:
                    self.buffer.popleft()
                backoff = 0.1

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the buffer is empty (tests; shutdown)."""
        deadline = time.monotonic() + timeout
        while self.buffer and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.buffer


usage_logger = UsageLogger(SETTINGS.redis_url, RedisKeys(SETTINGS.redis_prefix))
