"""Budget and rate-limit admission for one request, across its key's and organization's
limits, in one atomic Redis script (admission_lua.py). Reserves the worst-case cost; the usage
hook settles the real cost; reservations expire on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inference.proxy.admission_lua import ADMIT, SETTLE, SLOT
from inference.proxy.contract import (
    MODE_EMBEDDING,
    NANO_PER_USD,
    CatalogDeployment,
    CatalogModel,
    KeySnapshot,
    RedisKeys,
    ScopeLimits,
    budget_period,
)
from inference.proxy.redis_conn import AsyncClient, is_cluster

OVERHEAD_TOKENS = 16  # chat templates add a few special tokens per request and message
PER_MESSAGE_TOKENS = 8
# Chat templates wrap tool definitions in instructions of their own (Llama 3.1, Qwen 2.5: under
# 100 tokens); the definitions themselves are in the body's bytes.
TOOLS_OVERHEAD_TOKENS = 256
SCOPE_NAMES = {"key": "API key", "org": "organization"}

# The client's caps on the completion's length (OpenAI's names); the backend stops at the smallest.
CAP_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
# Backends' own names for that cap, which LiteLLM forwards as extra body fields: llama-server
# reads n_predict before max_tokens, Ollama num_predict, TGI max_new_tokens.
BACKEND_CAP_FIELDS = ("n_predict", "num_predict", "max_new_tokens")
MAX_CAP = 2**31 - 1  # OpenAI's own bound on max_tokens
MAX_CHOICES = 128  # OpenAI's bound on n
# /responses generates at least this many tokens whatever max_output_tokens says (OpenAI's own
# minimum; llama-server wrote 16 tokens for max_output_tokens 2 or 3, measured through LiteLLM).
RESPONSES_MIN_OUTPUT_TOKENS = 16
# The largest reservation (nano-USD, and tokens): Lua hands numbers to Redis (HINCRBY) and to
# cjson formatted with %.14g, so anything from 10^14 on would turn into 1e+14 and Redis would
# refuse it; below it every sum the scripts make stays exact in a double. 10^14 nano-USD is
# $100 000 for one request: only absurd caps or prices reach it, and they get a 400.
MAX_RESERVATION = 10**14 - 1


class InvalidValue(ValueError):
    """A request field that no reservation can honour: the client gets a 400 that names it."""

    def __init__(self, message: str, *, param: str, code: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def nano_per_token(price_per_mtok: str) -> int:
    """USD per million tokens → nano-USD per token, rounded up (reservations never undershoot)."""
    return int((Decimal(price_per_mtok) * NANO_PER_USD / 1_000_000).to_integral_value(ROUND_CEILING))


def prompt_upper_bound(body: dict[str, Any]) -> int:
    """An upper bound of the prompt's tokens: the byte length of the whole request body.

    Every token is at least one byte of the text it stands for, and every field that can reach
    the model's context (messages, prompt, input, instructions, tools, functions, tool_choice,
    response_format, and whatever a backend reads that LiteLLM forwards) is in the body, so
    counting all of it needs no list of prompt-bearing fields that could fall behind a new API.
    The body is re-encoded compactly as UTF-8 (lone surrogates, which JSON allows, as 3 bytes).
    """
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    messages = body.get("messages")
    per_message = PER_MESSAGE_TOKENS * len(messages) if isinstance(messages, list) else 0
    tools = TOOLS_OVERHEAD_TOKENS if body.get("tools") or body.get("functions") else 0
    return len(text.encode("utf-8", "surrogatepass")) + per_message + tools + OVERHEAD_TOKENS


def _positive_int(body: dict[str, Any], name: str, maximum: int) -> int | None:
    """The field's value, None when absent or null; a 400 for anything but an integer in 1..maximum."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _not_an_integer(name, value)
    # Bounds first: LiteLLM's JSON parser reads an integer beyond 64 bits (10**30) as a float.
    if value < 1:
        raise InvalidValue(
            f"Invalid '{name}': integer below minimum value. Expected a value >= 1.",
            param=name,
            code="integer_below_min_value",
        )
    if value > maximum:
        raise InvalidValue(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}.",
            param=name,
            code="integer_above_max_value",
        )
    if isinstance(value, float):  # 1.5, 10.0, NaN
        raise _not_an_integer(name, value)
    return value


def _not_an_integer(name: str, value: object) -> InvalidValue:
    return InvalidValue(
        f"Invalid '{name}': expected an integer, got {type(value).__name__}.", param=name, code="invalid_type"
    )


def _is_text_completion(path: str) -> bool:
    return path.endswith("/completions") and not path.endswith("/chat/completions")


def completion_cap(body: dict[str, Any], model: CatalogModel, path: str) -> int:
    """The most tokens one completion can have: the smallest cap the client gave (the backend
    stops at the first it reaches), clamped to the model's max_output_tokens and its context
    window (no completion outgrows the context, whatever the prompt's real length). 0 for
    embeddings, which generate nothing; never under the minimum that /responses generates."""
    if path.endswith("/embeddings"):
        return 0
    given = [value for name in CAP_FIELDS if (value := _positive_int(body, name, MAX_CAP)) is not None]
    cap = min([*given, model.max_output_tokens, model.context_window])
    return max(cap, RESPONSES_MIN_OUTPUT_TOKENS) if path.endswith("/responses") else cap


def _prompt_count(prompt: Any) -> int:
    # /completions takes a string, a list of token ids (one prompt), or a list of strings or of
    # token-id lists (one prompt each, each with its own n completions).
    if isinstance(prompt, list) and any(isinstance(p, (str, list)) for p in prompt):
        return len(prompt)
    return 1


def completion_count(body: dict[str, Any], path: str, most: int = MAX_CHOICES) -> int:
    """How many completions the backend generates: n (or best_of, the candidates it picks the
    n best from) per prompt; a 400 past ``most`` (the operator's LLMAAS_MAX_COMPLETIONS_PER_REQUEST)."""
    if path.endswith("/embeddings"):
        return 0
    n = _positive_int(body, "n", MAX_CHOICES) or 1
    best_of = _positive_int(body, "best_of", MAX_CHOICES) or 1
    prompts = _prompt_count(body.get("prompt")) if _is_text_completion(path) else 1
    count = max(n, best_of) * prompts
    if count > most:
        param = "prompt" if prompts > 1 else ("n" if n >= best_of else "best_of")
        raise InvalidValue(
            f"This request asks for {count} completions; this service generates at most {most} per request "
            "(send several requests instead).",
            param=param,
            code="too_many_completions",
        )
    return count


# What each generation route needs to have a prompt at all (a request without one is a 400 here,
# not an error deep in LiteLLM or the backend that a client would see as a 5xx).
PROMPT_FIELDS = {
    "/v1/chat/completions": "messages",
    "/v1/completions": "prompt",
    "/v1/embeddings": "input",
    "/v1/responses": "input",
}  # by the exact public route (routes.GENERATION_ROUTES)


def _text_or_tokens(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def _well_formed_prompt(name: str, value: Any) -> bool:
    if name == "messages":
        return (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
        )
    if isinstance(value, str):
        return name != "input" or bool(value)
    if not isinstance(value, list) or not value:
        return False
    if name == "input" and all(isinstance(item, dict) for item in value):
        return True  # /responses: a list of input items
    return _text_or_tokens(value) or all(_text_or_tokens(item) for item in value)


def check_prompt(body: dict[str, Any], path: str) -> None:
    """A 400 unless the request carries its route's prompt in one of the shapes OpenAI accepts."""
    name = PROMPT_FIELDS.get(path)
    if name is None or _well_formed_prompt(name, body.get(name)):
        return
    shapes = {
        "messages": "a non-empty list of message objects, each with a 'role'",
        "prompt": "a string, or a non-empty list of strings or token ids",
        "input": "a non-empty string, or a non-empty list of strings, token ids or input items",
    }
    raise InvalidValue(f"Invalid '{name}': expected {shapes[name]}.", param=name, code="invalid_prompt")


def check_mode(model: CatalogModel, path: str) -> None:
    """A 400 unless the route fits the model's mode: /v1/embeddings needs an embedding model, and an
    embedding model serves nothing else (its backend runs ``llama-server --embeddings``, which has
    no chat template and generates nothing; a chat backend answers /v1/embeddings with a 501)."""
    embedding = model.mode == MODE_EMBEDDING
    if path.endswith("/embeddings") == embedding:
        return
    if embedding:
        message = f"The model {model.name!r} is an embedding model: it serves /v1/embeddings only."
    else:
        message = f"The model {model.name!r} does not create embeddings: /v1/embeddings needs an embedding model."
    raise InvalidValue(message, param="model", code="model_not_supported")


@dataclass(frozen=True)
class WorstCase:
    """The most a request can consume; its cap is written into the request LiteLLM forwards."""

    prompt_tokens: int  # an upper bound
    completions: int
    cap: int  # tokens per completion
    cap_field: str | None  # where the forwarded request carries the cap; None: nothing is generated

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completions * self.cap

    def cost(self, price_in: int, price_out: int) -> int:
        """Nano-USD; a 400 when it, or the tokens, could not be reserved exactly."""
        cost = self.prompt_tokens * price_in + self.completions * self.cap * price_out
        if max(cost, self.tokens) > MAX_RESERVATION:
            raise InvalidValue(
                f"This request could consume {self.tokens} tokens (up to {self.completions} completions of "
                f"{self.cap} tokens and a prompt of up to {self.prompt_tokens}), costing up to "
                f"${Decimal(cost) / NANO_PER_USD}: more than one request may reserve. Lower "
                f"{self.cap_field or 'the input'}, n or the number of prompts.",
                param=self.cap_field or "input",
                code="worst_case_too_large",
            )
        return cost

    def metadata(self) -> dict[str, Any]:
        if self.cap_field is None:
            return {}
        return {"llmaas_output_cap": {"field": self.cap_field, "tokens": self.cap}}


def worst_case(body: dict[str, Any], model: CatalogModel, path: str, most: int = MAX_CHOICES) -> WorstCase:
    """The request's worst case on this model, or InvalidValue (a 400) for a missing or malformed
    prompt, an absurd cap, or more than ``most`` completions."""
    check_prompt(body, path)
    cap = completion_cap(body, model, path)
    completions = completion_count(body, path, most)
    if path.endswith("/embeddings"):
        field = None
    elif path.endswith("/responses"):
        field = "max_output_tokens"
    else:
        field = "max_tokens"  # chat and text completions; every OpenAI-compatible backend reads it
    return WorstCase(prompt_upper_bound(body), completions, cap, field)


def apply_output_cap(data: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Write the cap that admission reserved for into the request LiteLLM forwards, so that the
    backend can never generate more: the cap's field is set, and every other cap the client sent
    (OpenAI's names, backends' own, also inside ``extra_body``, which the OpenAI client merges
    over the top-level fields) may only be smaller. ``metadata``: the auth hook's identity,
    carrying WorstCase.metadata()."""
    output_cap = metadata.get("llmaas_output_cap")
    if not output_cap:
        return
    field, tokens = str(output_cap["field"]), int(output_cap["tokens"])
    data[field] = tokens
    extra = data.get("extra_body")
    for container in (data, extra) if isinstance(extra, dict) else (data,):
        for name in (*CAP_FIELDS, *BACKEND_CAP_FIELDS):
            if name not in container or (container is data and name == field):
                continue
            value = container[name]
            smaller = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= tokens
            container[name] = value if smaller else tokens


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
class Saturated:
    """Every candidate deployment of the model has its max concurrency in flight."""

    model: str
    limit: int
    current: int

    def message(self) -> str:
        return (
            f"The model {self.model!r} is at capacity ({self.current} requests in flight, at most {self.limit} per "
            "deployment). Please retry shortly."
        )


@dataclass(frozen=True)
class InsufficientBalance:
    """The organization's prepaid wallet cannot cover the request's worst case (a 402)."""

    org_id: str
    available: int  # nano-USD
    needed: int

    def message(self) -> str:
        return (
            f"Insufficient balance for organization {self.org_id}: this request could cost up to "
            f"${self.needed / NANO_PER_USD:.6f} and the prepaid balance available is "
            f"${max(0, self.available) / NANO_PER_USD:.6f}. Top up your credit to continue."
        )

    def details(self) -> dict[str, Any]:
        return {"available": self.available / NANO_PER_USD, "needed": self.needed / NANO_PER_USD}


@dataclass(frozen=True)
class Admitted:
    reservation_id: str
    budget_keys: list[str]
    price_in: int  # nano-USD per token, for settling
    price_out: int
    headers: dict[str, str] = field(default_factory=dict)
    deployment: CatalogDeployment | None = None  # the one chosen among the candidates given
    wallet_mult_ppm: int = 0  # the prepaid wallet's price multiplier (millionths); 0: no wallet
    wallet_key: str = ""
    org_id: str = ""  # whose reservation keys (Z, D) hold it
    slot_key: str = ""  # the chosen deployment's S, when a slot was taken

    def metadata(self) -> dict[str, Any]:
        return {
            "llmaas_reservation": self.reservation_id,
            "llmaas_org": self.org_id,
            "llmaas_slot": self.slot_key,
            "llmaas_budget_keys": self.budget_keys,
            "llmaas_price_in": self.price_in,
            "llmaas_price_out": self.price_out,
            "llmaas_ratelimit_headers": self.headers,
            "llmaas_wallet_mult": self.wallet_mult_ppm,
            "llmaas_wallet": self.wallet_key,
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
    """On one Redis server a call is admitted in one script (one round trip), deployment slot
    included. On a Redis Cluster, where a script's keys share one hash slot, a call that needs a
    deployment slot takes it first in the model's slot (SLOT), then reserves in its organization's
    (ADMIT with no candidate), and gives the slot back if refused: one more round trip, for those
    calls only. Settling frees the slot beside the reservation (in parallel on a cluster)."""

    def __init__(self, redis: aioredis.Redis | AsyncClient, keys: RedisKeys, reservation_ttl: float) -> None:
        self.keys = keys
        self.redis = redis
        self.cluster = is_cluster(redis)
        self.ttl_ms = int(reservation_ttl * 1000)
        self._admit = redis.register_script(ADMIT)
        self._settle = redis.register_script(SETTLE)
        self._slot = redis.register_script(SLOT)

    async def admit(
        self, snapshot: KeySnapshot, model: CatalogModel, body: dict[str, Any], path: str
    ) -> Admitted | Refusal | Saturated | InsufficientBalance:
        """Reserve the request's worst case (InvalidValue for an absurd one), or refuse it."""
        return await self.reserve(snapshot, model, worst_case(body, model, path))

    async def reserve(
        self,
        snapshot: KeySnapshot,
        model: CatalogModel,
        worst: WorstCase,
        candidates: Sequence[CatalogDeployment] = (),
        first_free: bool = False,
        loads: Sequence[int] = (),
    ) -> Admitted | Refusal | Saturated | InsufficientBalance:
        """Reserve against the key's scopes and, given candidate deployments, take a slot on the
        least busy one that has a free slot (``first_free``: the first one with a free slot, for
        round robin) (all in one script, one round trip); ``loads``: each candidate's backend's own
        load (backend_load.py), counted when above its in-flight count. The reservation is priced at the
        model's (dearest) prices; it settles at the chosen deployment's."""
        now = datetime.now(UTC)
        price_in, price_out = nano_per_token(model.input_price_per_mtok), nano_per_token(model.output_price_per_mtok)
        cost = worst.cost(price_in, price_out)
        reservation_id = uuid.uuid4().hex
        org, now_ms = snapshot.org_id, int(now.timestamp() * 1000)
        slots = [self.keys.deployment_slots(model.name, candidate.id) for candidate in candidates]
        choice: list[Any] = [_or_minus(candidate.max_concurrency) for candidate in candidates]
        choice.append("first" if first_free else "least")
        choice += [int(load) for load in loads][: len(candidates)]
        taken = 0  # on a cluster, the candidate whose slot SLOT took (1-based)
        if self.cluster and candidates:
            slot = await self._slot(slots, [now_ms, reservation_id, self.ttl_ms, *choice])
            if int(slot[0]) == 0:
                return Saturated(model.name, int(slot[3]), int(slot[4]))
            taken = int(slot[1])
        keys = [self.keys.reservations(org), self.keys.reservation_data(org)]
        args: list[Any] = [now_ms, reservation_id, self.ttl_ms, cost, worst.tokens, len(snapshot.scopes)]
        budget_keys, resets = [], []
        for scope in snapshot.scopes:
            period_id, _, end = budget_period(scope.budget_period, snapshot.timezone, now)
            b_key = self.keys.budget(org, scope.scope, scope.id, period_id)
            budget_keys.append(b_key)
            resets.append(end.timestamp() if end else None)
            keys += [
                b_key,
                self.keys.requests_window(org, scope.scope, scope.id),
                self.keys.tokens_window(org, scope.scope, scope.id),
                self.keys.in_flight(org, scope.scope, scope.id),
            ]
            args += [_or_minus(scope.budget_nano), _or_minus(scope.rpm), _or_minus(scope.tpm)]
            args += [_or_minus(scope.max_parallel), budget_ttl(end, now)]
        if not taken:
            keys += slots
            args += choice
        keys.append(self.keys.wallet(org))
        try:
            raw = await self._admit(keys, args)
        except BaseException:
            if taken:  # the organization's script never ran: give the deployment slot back
                with contextlib.suppress(RedisError, OSError):
                    await self.redis.zrem(slots[taken - 1], reservation_id)
            raise
        if int(raw[0]) == 1:
            index = taken or int(raw[7])
            chosen = candidates[index - 1] if candidates and index > 0 else None
            if chosen is not None:
                price_in = nano_per_token(chosen.input_price_per_mtok)
                price_out = nano_per_token(chosen.output_price_per_mtok)
            headers = _headers([int(v) for v in raw[:7]])
            mult = int(raw[8]) if len(raw) > 8 else 0
            wallet = self.keys.wallet(org) if mult else ""
            slot_key = slots[index - 1] if chosen is not None else ""
            return Admitted(
                reservation_id, budget_keys, price_in, price_out, headers, chosen, mult, wallet, org, slot_key
            )
        if taken:  # refused by the organization's limits: the deployment slot goes back
            await self.redis.zrem(slots[taken - 1], reservation_id)
        index, kind = int(raw[1]) - 1, raw[2].decode() if isinstance(raw[2], bytes) else str(raw[2])
        if kind == "saturated":
            return Saturated(model.name, int(raw[3]), int(raw[4]))
        if kind == "balance":
            return InsufficientBalance(snapshot.org_id, int(raw[3]), int(raw[4]))
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
        # Metadata written before reservations were kept per organization names none: that
        # reservation expires on its own, and the budget reconcile counts its spend.
        org = str(metadata.get("llmaas_org") or "")
        if not org:
            return
        keys = [self.keys.reservations(org), self.keys.reservation_data(org), self.keys.settled(org, reservation_id)]
        keys += list(metadata.get("llmaas_budget_keys") or [])
        now_ms = int(time.time() * 1000)
        wallet_cost = wallet_charge(cost, int(metadata.get("llmaas_wallet_mult") or 0))
        wallet = str(metadata.get("llmaas_wallet") or "")
        if wallet:
            keys.append(wallet)
        args = [reservation_id, cost, prompt_tokens + completion_tokens, now_ms, wallet_cost, "w" if wallet else ""]
        slot = str(metadata.get("llmaas_slot") or "")
        if self.cluster and slot:  # the slot lies in the model's hash slot, not the organization's
            await asyncio.gather(self._settle(keys, args), self.redis.zrem(slot, reservation_id))
        else:  # on one server SETTLE frees the slot with the rest (D holds it)
            await self._settle(keys, args)


def wallet_charge(cost_nano: int, mult_ppm: int) -> int:
    """What a prepaid wallet is charged for a call of ``cost_nano`` at list prices: exact integer
    arithmetic, rounded up (the ledger posts the same figure in Decimal, billing/ledger.py)."""
    return -(-cost_nano * mult_ppm // 1_000_000)


def _or_minus(value: int | None) -> int:
    return -1 if value is None else int(value)
