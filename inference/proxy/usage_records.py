"""The usage record of one finished call, built from LiteLLM's ``standard_logging_object``.

Plain Python (no LiteLLM, no Django), so that the control plane's tests can drive it with
hostile inputs and ingest what it builds.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from inference.proxy.contract import (
    STATUS_CANCELLED,
    STATUS_FAILURE,
    STATUS_RATE_LIMITED,
    STATUS_REJECTED,
    STATUS_SUCCESS,
    UsageRecord,
)

CLIENT_DISCONNECTED = "Client disconnected the request"
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
