"""The usage hook: one record per finished call (success, failure, cancelled, rejected, 429),
appended to the Redis stream ``{p}:usage`` without blocking the response.

Records go through a per-worker buffer drained by a background task; if Redis cannot take
them they stay buffered and are retried (the proxy refuses new calls meanwhile: fail closed),
so a Redis blip loses nothing. The shipper (shipper.py) takes them from the stream to Django.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from redis.exceptions import RedisError

from inference.proxy.admission import Admission
from inference.proxy.contract import (
    STATUS_CANCELLED,
    STATUS_FAILURE,
    STATUS_RATE_LIMITED,
    STATUS_REJECTED,
    STATUS_SUCCESS,
    USAGE_FIELD,
    RedisKeys,
    UsageRecord,
)
from inference.proxy.settings import SETTINGS
from inference.proxy.snapshots import async_redis

log = logging.getLogger("llmaas.proxy.usage")
CLIENT_DISCONNECTED = "Client disconnected the request"
BATCH = 500
MAX_BUFFER = 200_000
MAX_CHAT_CHARS = 200_000  # per call: larger histories are cut (and marked) to bound the stream


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _status(slo: dict[str, Any], ok: bool, exception: BaseException | None) -> str:
    if ok:
        return STATUS_CANCELLED if slo.get("error_str") == CLIENT_DISCONNECTED else STATUS_SUCCESS
    info = slo.get("error_information") or {}
    code = str(info.get("error_code") or getattr(exception, "status_code", "") or getattr(exception, "code", ""))
    if code == "429":
        return STATUS_RATE_LIMITED
    if code in {"401", "403"}:
        return STATUS_REJECTED
    return STATUS_FAILURE


def _chat(slo: dict[str, Any]) -> dict[str, Any]:
    chat = {"messages": slo.get("messages"), "response": slo.get("response")}
    if len(json.dumps(chat, default=str)) > MAX_CHAT_CHARS:
        return {"messages": None, "response": None, "truncated": True}
    return chat


def usage_record(kwargs: dict[str, Any], *, ok: bool, exception: BaseException | None = None) -> UsageRecord | None:
    """The contract's record for one call, from LiteLLM's standard logging payload."""
    slo = kwargs.get("standard_logging_object")
    if not isinstance(slo, dict):
        return None
    metadata = slo.get("metadata") or {}
    identity = metadata.get("user_api_key_auth_metadata") or {}
    start = _seconds(slo.get("startTime")) or time.time()
    end = _seconds(slo.get("endTime")) or start
    first = _seconds(slo.get("completionStartTime"))
    stream = bool(slo.get("stream"))
    status = _status(slo, ok, exception)
    error_info = slo.get("error_information") or {}
    return UsageRecord(
        call_id=str(slo.get("litellm_call_id") or slo.get("id")),
        org_id=identity.get("llmaas_org_id"),
        key_id=identity.get("llmaas_key_id"),
        user_id=identity.get("llmaas_user_id") or None,
        model=str(slo.get("model_group") or slo.get("model") or ""),
        deployment_id=slo.get("model_id") or None,
        prompt_tokens=int(slo.get("prompt_tokens") or 0),
        completion_tokens=int(slo.get("completion_tokens") or 0),
        latency_ms=max(0.0, (end - start) * 1000),
        ttft_ms=max(0.0, (first - start) * 1000) if stream and first and ok else None,
        status=status,
        error_type=(error_info.get("error_class") or (type(exception).__name__ if exception else None))
        if not ok
        else (CLIENT_DISCONNECTED if status == STATUS_CANCELLED else None),
        stream=stream,
        end_user=slo.get("end_user") or None,
        created_at=start,
        # A cut stream never receives the backend's usage chunk: LiteLLM counted what it relayed.
        tokens_estimated=status == STATUS_CANCELLED,
        chat=_chat(slo) if identity.get("llmaas_store_chats") and ok else None,
    )


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
