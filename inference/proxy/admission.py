"""Budget and rate-limit admission for one request, across its key's and organization's
limits, in one atomic Redis script (admission_lua.py). Reserves the worst-case cost; the usage
hook settles the real cost; reservations expire on their own.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import redis.asyncio as aioredis

from inference.proxy.admission_lua import ADMIT, SETTLE
from inference.proxy.contract import NANO_PER_USD, CatalogModel, KeySnapshot, RedisKeys, ScopeLimits, budget_period

# Routes that generate tokens, and so are admitted (listing models is not).
GENERATION_SUFFIXES = ("/chat/completions", "/completions", "/embeddings", "/responses")
OVERHEAD_TOKENS = 16  # chat templates add a few special tokens per request and message
SCOPE_NAMES = {"key": "API key", "org": "organization"}


def nano_per_token(price_per_mtok: str) -> int:
    """USD per million tokens → nano-USD per token, rounded up (reservations never undershoot)."""
    return int((Decimal(price_per_mtok) * NANO_PER_USD / 1_000_000).to_integral_value(ROUND_CEILING))


def prompt_upper_bound(body: dict[str, Any]) -> int:
    """An upper bound of the prompt's tokens: every token is at least one byte."""
    parts = [body.get(name) for name in ("messages", "prompt", "input", "instructions") if body.get(name)]
    text = json.dumps(parts, ensure_ascii=False)
    messages = body.get("messages")
    per_message = 8 * len(messages) if isinstance(messages, list) else 0
    return len(text.encode()) + per_message + OVERHEAD_TOKENS


def completion_cap(body: dict[str, Any], model: CatalogModel, path: str) -> int:
    if path.endswith("/embeddings"):
        return 0
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return model.max_output_tokens


@dataclass(frozen=True)
class Refusal:
    scope: str
    scope_id: str
    kind: str  # budget | rpm | tpm | parallel
    limit: int
    current: int
    reset_at: float | None  # unix seconds; None: never (lifetime budget)

    def message(self) -> str:
        where = f"{SCOPE_NAMES.get(self.scope, self.scope)} {self.scope_id}"
        when = (
            "never (lifetime budget)"
            if self.reset_at is None
            else datetime.fromtimestamp(self.reset_at, UTC).isoformat(timespec="seconds")
        )
        if self.kind == "budget":
            return (
                f"Budget exceeded for {where}: limit ${self.limit / NANO_PER_USD:.6f}, "
                f"spent or reserved ${self.current / NANO_PER_USD:.6f}; this request could cost more "
                f"than what is left. Resets at {when}."
            )
        what = {"rpm": "requests per minute", "tpm": "tokens per minute", "parallel": "requests in flight"}[self.kind]
        return (
            f"Rate limit reached for {where} on {what}: limit {self.limit}, current {self.current}. Resets at {when}."
        )

    def details(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "scope_id": self.scope_id,
            "limit_type": self.kind,
            "limit": self.limit / NANO_PER_USD if self.kind == "budget" else self.limit,
            "current": self.current / NANO_PER_USD if self.kind == "budget" else self.current,
            "reset_at": self.reset_at,
        }


@dataclass(frozen=True)
class Admitted:
    reservation_id: str
    budget_keys: list[str]
    price_in: int  # nano-USD per token, for settling
    price_out: int
    headers: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "llmaas_reservation": self.reservation_id,
            "llmaas_budget_keys": self.budget_keys,
            "llmaas_price_in": self.price_in,
            "llmaas_price_out": self.price_out,
            "llmaas_ratelimit_headers": self.headers,
        }


def _duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def _headers(result: list[int]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for offset, name in ((1, "requests"), (4, "tokens")):
        limit, left, reset = result[offset], result[offset + 1], result[offset + 2]
        if limit >= 0:
            headers[f"x-ratelimit-limit-{name}"] = str(limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, left))
            headers[f"x-ratelimit-reset-{name}"] = _duration(reset)
    return headers


def budget_ttl(end: datetime | None, now: datetime) -> int:
    # A period's counters live a day past its end (late settles), then go.
    return -1 if end is None else int((end - now).total_seconds()) + 86400


class Admission:
    def __init__(self, redis: aioredis.Redis, keys: RedisKeys, reservation_ttl: float) -> None:
        self.keys = keys
        self.ttl_ms = int(reservation_ttl * 1000)
        self._admit = redis.register_script(ADMIT)
        self._settle = redis.register_script(SETTLE)

    async def admit(
        self, snapshot: KeySnapshot, model: CatalogModel, body: dict[str, Any], path: str
    ) -> Admitted | Refusal:
        now = datetime.now(UTC)
        price_in, price_out = nano_per_token(model.input_price_per_mtok), nano_per_token(model.output_price_per_mtok)
        prompt, completion = prompt_upper_bound(body), completion_cap(body, model, path)
        cost = prompt * price_in + completion * price_out
        reservation_id = uuid.uuid4().hex
        keys = [self.keys.reservations, self.keys.reservation_data]
        args: list[Any] = [int(now.timestamp() * 1000), reservation_id, self.ttl_ms, cost, prompt + completion]
        budget_keys, resets = [], []
        for scope in snapshot.scopes:
            period_id, _, end = budget_period(scope.budget_period, snapshot.timezone, now)
            b_key = self.keys.budget(scope.scope, scope.id, period_id)
            budget_keys.append(b_key)
            resets.append(end.timestamp() if end else None)
            keys += [
                b_key,
                self.keys.requests_window(scope.scope, scope.id),
                self.keys.tokens_window(scope.scope, scope.id),
                self.keys.in_flight(scope.scope, scope.id),
            ]
            args += [_or_minus(scope.budget_nano), _or_minus(scope.rpm), _or_minus(scope.tpm)]
            args += [_or_minus(scope.max_parallel), budget_ttl(end, now)]
        raw = await self._admit(keys, args)
        if int(raw[0]) == 1:
            return Admitted(reservation_id, budget_keys, price_in, price_out, _headers([int(v) for v in raw]))
        index, kind = int(raw[1]) - 1, raw[2].decode() if isinstance(raw[2], bytes) else str(raw[2])
        refused: ScopeLimits = snapshot.scopes[index]
        reset_at = resets[index] if kind == "budget" else time.time() + max(1, int(raw[5]))
        return Refusal(refused.scope, refused.id, kind, int(raw[3]), int(raw[4]), reset_at)

    async def settle(self, metadata: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> None:
        """Charge the real cost and free the reservation (idempotent per reservation)."""
        reservation_id = metadata.get("llmaas_reservation")
        if not reservation_id:
            return
        cost = prompt_tokens * int(metadata.get("llmaas_price_in", 0)) + completion_tokens * int(
            metadata.get("llmaas_price_out", 0)
        )
        keys = [self.keys.reservations, self.keys.reservation_data, self.keys.settled(reservation_id)]
        keys += list(metadata.get("llmaas_budget_keys") or [])
        now_ms = int(time.time() * 1000)
        await self._settle(keys, [reservation_id, cost, prompt_tokens + completion_tokens, now_ms])


def _or_minus(value: int | None) -> int:
    return -1 if value is None else int(value)
