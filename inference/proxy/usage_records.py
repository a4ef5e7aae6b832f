"""The usage record of one finished call, built from LiteLLM's ``standard_logging_object``.

Plain Python (no LiteLLM, no Django), so that the control plane's tests can drive it with
hostile inputs and ingest what it builds.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import datetime
from typing import Any

from inference.proxy.contract import (
    CREATED_AT_LIMIT,
    MS_MAX,
    STATUS_CANCELLED,
    STATUS_FAILURE,
    STATUS_RATE_LIMITED,
    STATUS_REJECTED,
    STATUS_SUCCESS,
    UsageRecord,
    clean_json,
    finite,
    optional_text,
    token_count,
)
from inference.proxy.deployments import deployment_of_router_id
from inference.proxy.logs import REQUEST_ID_HEADER, current_request_id, valid_request_id

CLIENT_DISCONNECTED = "Client disconnected the request"
MAX_CHAT_CHARS = 200_000  # per call: larger histories are cut (and marked) to bound the stream
# What LiteLLM's call ids look like (uuid4 text); anything else is not taken as the call's id.
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_CALL_ID_NAMESPACE = uuid.UUID("1b2f6a52-3f7e-4d2c-9a51-4c1e0d6b7a10")


def _seconds(value: Any) -> float | None:
    """Unix seconds, or None for what is not a time a call could have (the caller then uses now)."""
    if isinstance(value, datetime):
        value = value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < CREATED_AT_LIMIT else None


def _status(slo: dict[str, Any], ok: bool, exception: BaseException | None) -> str:
    if ok:
        return STATUS_CANCELLED if slo.get("error_str") == CLIENT_DISCONNECTED else STATUS_SUCCESS
    info = _dict(slo.get("error_information"))
    code = str(info.get("error_code") or getattr(exception, "status_code", "") or getattr(exception, "code", ""))
    if code == "429":
        return STATUS_RATE_LIMITED
    if code in {"401", "403"}:
        return STATUS_REJECTED
    return STATUS_FAILURE


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _chat(slo: dict[str, Any]) -> dict[str, Any]:
    """The chat as jsonb can store it (NUL and lone surrogates replaced), or a marker if too large."""
    try:
        chat = clean_json({"messages": slo.get("messages"), "response": slo.get("response")})
        if len(json.dumps(chat)) <= MAX_CHAT_CHARS:
            return chat
    except (RecursionError, ValueError, TypeError):
        pass  # nested past what JSON tools handle: kept out, like a chat too large
    return {"messages": None, "response": None, "truncated": True}


def _call_id(value: Any) -> str:
    """LiteLLM's call id if it is one; otherwise an id derived from it (the same each time the
    call is logged, so it is still stored once), or a fresh one when there is none."""
    if isinstance(value, str) and _CALL_ID.fullmatch(value):
        return value
    if value is None or value == "":
        return str(uuid.uuid4())
    text = value if isinstance(value, str) else repr(value)
    return str(uuid.uuid5(_CALL_ID_NAMESPACE, text.encode("utf-8", "surrogatepass").hex()))


def _request_id(kwargs: dict[str, Any]) -> str | None:
    """The request id the route gate put in the headers (logs.py), or the one bound to this context."""
    request = _dict(_dict(kwargs.get("litellm_params")).get("proxy_server_request")) or _dict(
        kwargs.get("proxy_server_request")
    )
    headers = _dict(request.get("headers"))
    value = headers.get(REQUEST_ID_HEADER) or headers.get(REQUEST_ID_HEADER.title())
    return valid_request_id(value if isinstance(value, str) else None) or valid_request_id(current_request_id())


def _id(value: Any) -> str | None:
    """Our own ids (from the auth hook's metadata): text, or None."""
    return value if isinstance(value, str) and value else None


def usage_record(kwargs: dict[str, Any], *, ok: bool, exception: BaseException | None = None) -> UsageRecord | None:
    """The contract's record for one call, from LiteLLM's standard logging payload. Every value a
    client can influence (the call id, ``user``, the model name, the chat) is coerced, cleaned
    and bounded: no request can make its own record invalid and so stay out of billing."""
    slo = kwargs.get("standard_logging_object")
    if not isinstance(slo, dict):
        return None
    metadata = _dict(slo.get("metadata"))
    identity = _dict(metadata.get("user_api_key_auth_metadata"))
    start = _seconds(slo.get("startTime")) or time.time()
    end = _seconds(slo.get("endTime")) or start
    first = _seconds(slo.get("completionStartTime"))
    stream = slo.get("stream") is True
    status = _status(slo, ok, exception)
    error_info = _dict(slo.get("error_information"))
    if ok:
        error_type = CLIENT_DISCONNECTED if status == STATUS_CANCELLED else None
    else:
        error_type = optional_text(error_info.get("error_class") or (type(exception).__name__ if exception else None))
    return UsageRecord(
        call_id=_call_id(slo.get("litellm_call_id") or slo.get("id")),
        org_id=_id(identity.get("llmaas_org_id")),
        key_id=_id(identity.get("llmaas_key_id")),
        user_id=_id(identity.get("llmaas_user_id")),
        # The public model our auth hook admitted (the hooks hand LiteLLM a deployment's id).
        model=optional_text(identity.get("llmaas_model") or slo.get("model_group") or slo.get("model")) or "",
        deployment_id=optional_text(deployment_of_router_id(slo.get("model_id")) or slo.get("model_id")),
        prompt_tokens=token_count(slo.get("prompt_tokens")),
        completion_tokens=token_count(slo.get("completion_tokens")),
        latency_ms=finite((end - start) * 1000, 0, MS_MAX),
        ttft_ms=finite((first - start) * 1000, 0, MS_MAX) if stream and first and ok else None,
        status=status,
        error_type=error_type,
        stream=stream,
        end_user=optional_text(slo.get("end_user")),
        created_at=start,
        # A cut stream never receives the backend's usage chunk: LiteLLM counted what it relayed.
        tokens_estimated=status == STATUS_CANCELLED,
        chat=_chat(slo) if identity.get("llmaas_store_chats") and ok else None,
        request_id=_request_id(kwargs),
    )


_TEXT_FIELDS = ("org_id", "key_id", "user_id", "deployment_id", "error_type", "end_user")


def record_normalised(data: dict[str, Any]) -> dict[str, Any]:
    """A record's fields (as the stream carries them) normalised as ``usage_record`` normalises a
    call now: for replaying dead letters written before, or by a proxy that did not."""
    out = dict(data)
    for name in _TEXT_FIELDS:
        if name in out:
            out[name] = optional_text(out[name])
    if "model" in out:
        out["model"] = optional_text(out["model"]) or ""
    if "call_id" in out:
        out["call_id"] = _call_id(out["call_id"])
    if "request_id" in out:
        out["request_id"] = valid_request_id(out["request_id"] if isinstance(out["request_id"], str) else None)
    for name in ("prompt_tokens", "completion_tokens"):
        if name in out:
            out[name] = token_count(out[name])
    if "latency_ms" in out:
        out["latency_ms"] = finite(out["latency_ms"], 0, MS_MAX)
    if out.get("ttft_ms") is not None:
        out["ttft_ms"] = finite(out["ttft_ms"], 0, MS_MAX)
    if isinstance(out.get("chat"), dict):
        out["chat"] = clean_json(out["chat"])
    return out


class UnidentifiedRejections:
    """Per worker, at most ``per_second`` records a second (after a burst of ``burst``) of calls refused
    before any caller was identified (a bad or missing key): anyone can send those, and each would
    otherwise be a request_logs row. The rest are counted, and the count is logged once a minute.
    Rejections of identified callers (a model the key may not use, a 429) are all recorded."""

    def __init__(self, per_second: float, burst: float, report_every: float = 60.0) -> None:
        self.per_second = per_second
        self.burst = burst
        self.report_every = report_every
        self.tokens = burst
        self.last = self.reported_at = -math.inf  # set by the first call
        self.skipped = 0  # since the last report
        self.skipped_total = 0

    @staticmethod
    def applies(record: UsageRecord) -> bool:
        return record.status == STATUS_REJECTED and record.key_id is None and record.org_id is None

    def keep(self, record: UsageRecord, now: float | None = None) -> bool:
        """Whether to record it (always, unless it is an unidentified rejection over the rate)."""
        if not self.applies(record):
            return True
        now = time.monotonic() if now is None else now
        if self.last == -math.inf:
            self.last = self.reported_at = now
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.per_second)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.skipped += 1
        self.skipped_total += 1
        return False

    def report(self, now: float | None = None) -> int:
        """The count skipped since the last report, once ``report_every`` has passed (else 0)."""
        now = time.monotonic() if now is None else now
        if not self.skipped or now - self.reported_at < self.report_every:
            return 0
        skipped, self.skipped, self.reported_at = self.skipped, 0, now
        return skipped
