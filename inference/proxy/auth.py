"""LiteLLM ``custom_auth`` hook: admits a request by the key's snapshot that Django published.

Configured as ``general_settings.custom_auth: inference.proxy.auth.user_api_key_auth``. It
replaces all of LiteLLM's auth, so it also recognises the master key (operators only).
Order of checks: key present and well-formed (401) → master key → (method, path) allowlist of
routes.py (403) → snapshot lookup (503 if Redis cannot answer, 401 if unknown) → expiry (401)
→ no query parameters (400: LiteLLM would serve ``?model=`` over the body's) → on generation
routes: no client routing fields (400), a well-formed model (400), the key's model allowlist
(403), the published catalog (404) → admission (429). All before admission, so a refused
request never counts; LiteLLM's own common checks are left off (they cost ~4 % of a worker's
CPU and count nothing we need). The pre-call hook (hooks.py) re-checks the model LiteLLM
finally calls against the one admitted here.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body
from redis.exceptions import RedisError

from inference.proxy.admission import (
    Admission,
    InsufficientBalance,
    InvalidValue,
    Refusal,
    Saturated,
    check_mode,
    worst_case,
)
from inference.proxy.backend_load import LoadScraper
from inference.proxy.contract import (
    SECRET_MAX_LENGTH,
    SECRET_MIN_LENGTH,
    SECRET_PREFIX,
    Catalog,
    CatalogDeployment,
    CatalogModel,
    KeySnapshot,
    RedisKeys,
    hash_secret,
)
from inference.proxy.deployments import router_id
from inference.proxy.lifecycle import OutsideSchedule, Starter, StartFailed, StartTimeout, scheduled
from inference.proxy.metrics import count_admission
from inference.proxy.router_sync import router_sync
from inference.proxy.routes import (
    MODEL_MAX_LENGTH,
    is_generation_route,
    is_public_route,
    mistyped_field,
    model_of_route,
    refused_field,
)
from inference.proxy.routing import (
    ROUND_ROBIN,
    admit_waiting,
    candidates,
    needs_admission,
    ordered,
    queue_timeout,
    requested_profile,
)
from inference.proxy.settings import SETTINGS as settings
from inference.proxy.snapshots import SnapshotStore, SnapshotUnavailable

log = logging.getLogger("llmaas.proxy")

LAST_USED_EVERY = 60.0  # seconds between last-used writes, per key and worker

backend_loads = LoadScraper(settings.backend_scrape_seconds)


def _on_catalog(raw: bytes | str, catalog: Catalog) -> None:
    router_sync.apply(raw, catalog)
    backend_loads.follow(catalog)


store = SnapshotStore(
    settings.redis_url, RedisKeys(settings.redis_prefix), cache_ttl=settings.cache_ttl, on_catalog=_on_catalog
)
admission = Admission(store.redis, store.keys, settings.reservation_ttl)
starter = Starter(store.redis, store.keys, store.catalog_model)
_last_touched: dict[str, float] = {}


class OpenAIError(ProxyException):
    """A ProxyException whose body carries OpenAI's string ``code`` (e.g. ``invalid_api_key``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str,  # noqa: A002 - ProxyException's own name for it
        code: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        headers = {"x-llmaas-worker": settings.worker_id, **(headers or {})}
        super().__init__(
            message=message,
            type=type,
            param=param,
            code=status,
            headers=headers,
            openai_code=code,
            provider_specific_fields=details,
        )

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["code"] = self.openai_code
        return body


def _unavailable(exc: Exception) -> OpenAIError:
    log.warning("failing closed: %s", exc)
    return OpenAIError(
        503,
        "The service is temporarily unable to check API keys or limits. Please retry shortly.",
        type="service_unavailable",
        code="service_unavailable",
        headers={"Retry-After": "2"},
    )


def _in_schedule(model: CatalogModel) -> CatalogModel:
    """The model's deployments open now (proxy/schedule.py, from the catalog alone), else a 503
    naming the next window."""
    try:
        return scheduled(model)
    except OutsideSchedule as exc:
        now = datetime.now(UTC)
        raise OpenAIError(
            503,
            exc.message(),
            type="service_unavailable",
            code="model_outside_schedule",
            headers={"Retry-After": str(exc.retry_after(now))},
            details={
                "available_from": exc.opens_at.isoformat() if exc.opens_at else None,
                "next_window": exc.window,
                "time_zone": exc.time_zone,
            },
        ) from None


def _routed(deployment: CatalogDeployment) -> dict[str, Any]:
    # The pre-call hook hands LiteLLM this id as the model: its router serves that one deployment.
    return {"llmaas_deployment": router_id(deployment.id)}


def _at_capacity(outcome: Saturated) -> OpenAIError:
    return OpenAIError(
        503,
        outcome.message(),
        type="service_unavailable",
        code="model_at_capacity",
        headers={"Retry-After": "1"},
        details={"limit": outcome.limit, "in_flight": outcome.current},
    )


def _model_unavailable(model: str, retry_after: float | None = None) -> OpenAIError:
    """503. ``retry_after``: seconds until the fleet agent tries a deployment that failed to start again."""
    if retry_after is None:
        message, wait = f"The model {model!r} has no healthy deployment right now. Please retry shortly.", 5
    else:
        wait = max(1, math.ceil(retry_after))
        message = f"The model {model!r} failed to start; it is tried again in {wait} s."
    return OpenAIError(
        503, message, type="service_unavailable", code="model_unavailable", headers={"Retry-After": str(wait)}
    )


async def _admit(
    snapshot: KeySnapshot, body: dict[str, Any], model: CatalogModel, path: str, profile: str | None = None
) -> dict[str, Any]:
    """Bound the request's output (always: the pre-call hook writes the cap into the request, so
    that no backend outgrows the catalog's max_output_tokens or what was billed), choose the
    deployment (routing.py), reserve its worst case against the key's and organization's limits
    and prepaid wallet and, when the choice needs the deployments' load, a slot on the least busy
    candidate (one Redis script), or refuse it (429; 402 insufficient_balance; 503 when every
    candidate is at its max concurrency). An absurd cap or n is a 400, before anything reaches Redis."""
    if not model.deployments:
        raise _model_unavailable(model.name)
    model = _in_schedule(model)
    choices = ordered(candidates(model, body, profile), settings.routing_policy)
    try:
        choices = await starter.running(model.name, choices)
    except StartTimeout as exc:
        raise OpenAIError(
            503,
            f"The model {exc.model!r} is starting and was not ready within {exc.timeout:g} s. Please retry shortly.",
            type="service_unavailable",
            code="model_starting",
            headers={"Retry-After": "5"},
        ) from None
    except StartFailed as exc:
        raise _model_unavailable(exc.model, exc.retry_after) from None
    except (RedisError, OSError, SnapshotUnavailable) as exc:
        raise _unavailable(exc) from None
    try:
        check_mode(model, path)
        worst = worst_case(body, model, path, settings.max_completions)
        balanced = needs_admission(choices)
        # Every call is admitted in Redis, limits or not: the organization may be on the prepaid
        # plan, whose wallet the same script checks (a snapshot cannot know its balance).
        outcome = await admit_waiting(
            lambda: admission.reserve(
                snapshot,
                model,
                worst,
                choices if balanced else (),
                settings.routing_policy == ROUND_ROBIN,
                backend_loads.loads(c.id for c in choices) if balanced else (),
            ),
            queue_timeout(choices),
        )
    except InvalidValue as exc:
        count_admission("invalid")
        raise OpenAIError(400, str(exc), type="invalid_request_error", code=exc.code, param=exc.param) from None
    except (SnapshotUnavailable, RedisError, OSError) as exc:
        count_admission("unavailable")
        raise _unavailable(exc) from None
    count_admission(outcome)  # in-process (metrics.py): no Redis round trip
    if isinstance(outcome, Saturated):
        raise _at_capacity(outcome)
    if isinstance(outcome, InsufficientBalance):
        raise OpenAIError(
            402, outcome.message(), type="insufficient_balance", code="insufficient_balance", details=outcome.details()
        )
    if isinstance(outcome, Refusal):
        retry_after = 3600 if outcome.reset_at is None else max(1, math.ceil(outcome.reset_at - time.time()))
        budget = outcome.kind == "budget"
        raise OpenAIError(
            429,
            outcome.message(),
            type="insufficient_quota" if budget else "rate_limit_exceeded",
            code="insufficient_quota" if budget else "rate_limit_exceeded",
            headers={"Retry-After": str(retry_after)},
            details=outcome.details(),
        )
    return worst.metadata() | outcome.metadata() | _routed(outcome.deployment or choices[0])


def _invalid(message: str, code: str, param: str | None) -> OpenAIError:
    return OpenAIError(400, message, type="invalid_request_error", code=code, param=param)


def _model_not_found(model: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"The model {model!r} does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
        param="model",
    )


def _model_not_allowed(model: str) -> OpenAIError:
    return OpenAIError(
        403,
        f"This API key may not use the model {model!r}.",
        type="invalid_request_error",
        code="model_not_allowed",
        param="model",
    )


async def _servable_model(snapshot: KeySnapshot, path: str, body: dict[str, Any]) -> CatalogModel:
    """The catalog entry of the body's model if this key may use it; else a 400/403/404.

    Checked before admission, so a refused request never counts against a limit, and so that
    nothing LiteLLM could serve outside the catalog (an upstream name such as
    ``openai/<upstream id>``, a model disabled in Django but still in LiteLLM's config) is served.
    """
    field = refused_field(path, body)
    if field is not None:
        raise _invalid(f"The field {field!r} is not accepted by this API.", "field_not_allowed", field)
    mistyped = mistyped_field(body)
    if mistyped is not None:
        raise _invalid(f"Invalid {mistyped[0]!r}: expected {mistyped[1]}.", "invalid_type", mistyped[0])
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MODEL_MAX_LENGTH:
        raise _invalid(
            f"'model' must be a model name (a string of 1 to {MODEL_MAX_LENGTH} characters).", "invalid_model", "model"
        )
    try:
        served = await store.catalog_model(model)
    except (SnapshotUnavailable, RedisError, OSError) as exc:
        raise _unavailable(exc) from None
    # A key's allowlist may name the model or the alias it was called by.
    if snapshot.models and model not in snapshot.models and (served is None or served.name not in snapshot.models):
        raise _model_not_allowed(model)
    if served is None:
        raise _model_not_found(model)
    return served


def _unauthorized(message: str) -> OpenAIError:
    return OpenAIError(401, message, type="invalid_request_error", code="invalid_api_key")


def _redacted(secret: str) -> str:
    return f"{secret[:6]}…{secret[-2:]}" if len(secret) > 12 else "…"


def _bearer(api_key: str | None) -> str:
    key = (api_key or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    return key


async def user_api_key_auth(request: Request, api_key: str | None) -> UserAPIKeyAuth:
    secret = _bearer(api_key)
    if not secret:
        raise _unauthorized(
            "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer sk-…'."
        )
    if settings.master_key and hmac.compare_digest(secret.encode(), settings.master_key.encode()):
        return UserAPIKeyAuth(api_key=secret, user_role=LitellmUserRoles.PROXY_ADMIN)
    if not secret.startswith(SECRET_PREFIX) or not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH:
        raise _unauthorized(f"Malformed API key provided: {_redacted(secret)}. Keys look like 'sk-…'.")

    path = request.url.path
    # Second line of defence behind the route gate (asgi.py): tenants get the inference surface only.
    if not is_public_route(request.method, path):
        raise OpenAIError(
            403,
            f"The route {request.method} {path} is not available to API keys.",
            type="invalid_request_error",
            code="route_not_allowed",
        )

    key_hash = hash_secret(secret)
    try:
        snapshot = await store.get(key_hash)
    except SnapshotUnavailable as exc:
        raise _unavailable(exc) from None
    now = time.time()
    if snapshot is None:
        raise _unauthorized(f"Incorrect API key provided: {_redacted(secret)}.")
    if snapshot.is_expired(now):
        raise _unauthorized(f"The API key {_redacted(secret)} has expired.")
    # LiteLLM serves a query-string ?model= in place of the body's (and copies other query
    # parameters into the request): no public route takes any.
    for name in request.query_params:
        raise _invalid(f"Query parameters are not accepted here: {name!r}.", "query_parameter_not_allowed", name)

    if now - _last_touched.get(snapshot.key_id, 0.0) > LAST_USED_EVERY:
        _last_touched[snapshot.key_id] = now
        await store.touch(snapshot.key_id, now)

    identity: dict[str, Any] = {
        "llmaas_key_id": snapshot.key_id,
        "llmaas_org_id": snapshot.org_id,
        "llmaas_user_id": snapshot.user_id,
        "llmaas_store_chats": snapshot.store_chats,
    }
    listed = model_of_route(path)
    if listed is not None and snapshot.models and listed not in snapshot.models:
        raise _model_not_found(listed)
    if is_generation_route(request.method, path):
        body = await _read_request_body(request)
        model = await _servable_model(snapshot, path, body)
        # The pre-call hook compares the model LiteLLM finally calls with these.
        identity["llmaas_model"] = model.name
        identity["llmaas_requested_model"] = body["model"]
        identity |= await _admit(snapshot, body, model, path, requested_profile(request.headers))
    return UserAPIKeyAuth(
        api_key=key_hash,
        token=key_hash,
        key_alias=snapshot.key_id,
        user_id=snapshot.user_id,
        org_id=snapshot.org_id,
        models=list(snapshot.models),
        expires=None,
        user_role=LitellmUserRoles.INTERNAL_USER,
        metadata=identity,
    )
