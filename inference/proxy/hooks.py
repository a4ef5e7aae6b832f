"""LiteLLM callbacks of the data plane (``litellm_settings.callbacks: inference.proxy.hooks.proxy_hooks``).

- ``async_pre_call_hook`` drops client-supplied upstream credentials from the body: LiteLLM
  would otherwise forward a body ``api_key`` to the backend in place of the configured one.
  It also re-checks the model LiteLLM is about to call (after its aliasing and routing
  rewrites) against the model our auth hook admitted and against the live catalog: a
  mismatch is refused, never served unadmitted or unbilled.
- ``async_filter_listed_models`` lists only published catalog models.
- ``async_post_call_response_headers_hook`` overwrites the headers by which LiteLLM reveals
  which backend served a call (its address, its model name) and adds our worker id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles
from redis.exceptions import RedisError

from inference.proxy import lean_prometheus
from inference.proxy.admission import apply_output_cap
from inference.proxy.auth import OpenAIError, store
from inference.proxy.settings import SETTINGS as settings
from inference.proxy.snapshots import SnapshotUnavailable

# Body fields that would let a client steer LiteLLM's upstream call with its own credentials.
CLIENT_CREDENTIAL_FIELDS = ("api_key", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key")
# LiteLLM's headers that name a backend; they are overwritten with empty values.
BACKEND_REVEALING_HEADERS = (
    "x-litellm-model-api-base",
    "x-litellm-model-id",
    "x-litellm-model-name",
    "x-litellm-model-region",
    "llm_provider-server",
)


def _final_model_refused(model: object, reason: str) -> OpenAIError:
    return OpenAIError(
        400,
        f"The model {model!r} cannot be served for this request ({reason}).",
        type="invalid_request_error",
        code="model_mismatch",
        param="model",
    )


def _catalog_unavailable() -> OpenAIError:
    return OpenAIError(
        503,
        "The service is temporarily unable to check the model catalog. Please retry shortly.",
        type="service_unavailable",
        code="service_unavailable",
        headers={"Retry-After": "2"},
    )


async def _check_final_model(user_api_key_dict: Any, model: object) -> None:
    """Fail closed unless ``model`` is the catalog model our auth hook admitted for this key."""
    if getattr(user_api_key_dict, "user_role", None) == LitellmUserRoles.PROXY_ADMIN:
        return  # operators (master key, private port) may call any deployment
    metadata = getattr(user_api_key_dict, "metadata", None) or {}
    admitted = metadata.get("llmaas_model")
    if admitted is None:
        raise _final_model_refused(model, "no model was admitted")
    if model not in (admitted, metadata.get("llmaas_requested_model")):
        raise _final_model_refused(model, f"admitted {admitted!r}")
    allowed = getattr(user_api_key_dict, "models", None) or []
    if allowed and model not in allowed and admitted not in allowed:
        raise _final_model_refused(model, "not allowed for this key")
    try:
        served = await store.catalog_model(str(model))
    except (SnapshotUnavailable, RedisError, OSError):
        raise _catalog_unavailable() from None
    if served is None or served.name != admitted:
        raise _final_model_refused(model, "not in the catalog")


def _route(user_api_key_dict: Any, data: dict[str, Any]) -> None:
    """Hand LiteLLM the deployment our auth hook chose (routing.py): its router serves a
    deployment id from that one deployment. The public name stays in the request's metadata."""
    metadata = getattr(user_api_key_dict, "metadata", None) or {}
    deployment = metadata.get("llmaas_deployment")
    if deployment:
        data["model"] = deployment


def _bound_output(user_api_key_dict: Any, data: dict[str, Any]) -> None:
    """Write the completion cap our auth hook reserved for (admission.py) into the request, so
    that the backend can never generate more than was reserved and billed, nor more than the
    catalog's max_output_tokens, whatever caps (or backend-specific ones) the client sent."""
    metadata = getattr(user_api_key_dict, "metadata", None) or {}
    apply_output_cap(data, metadata)


def _stream_with_usage(data: dict[str, Any]) -> None:
    """A stream always asks the backend for its usage: LiteLLM's always_include_stream_usage keeps a
    client's explicit ``include_usage: false``, and without the backend's usage chunk the call would
    be billed on LiteLLM's own token estimate (its tokenizer, not the model's)."""
    if data.get("stream") is True:
        options = data.get("stream_options")
        data["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}


class ProxyHooks(CustomLogger):
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        for name in CLIENT_CREDENTIAL_FIELDS:
            data.pop(name, None)
        await _check_final_model(user_api_key_dict, data.get("model"))
        _route(user_api_key_dict, data)
        _bound_output(user_api_key_dict, data)
        _stream_with_usage(data)
        return data

    async def async_filter_listed_models(self, user_api_key_dict: Any, model_names: Sequence[str]) -> Sequence[str]:
        """Tenants see only published catalog models: one disabled in the admin (still in
        LiteLLM's config) leaves /v1/models at once, and /v1/models/{id} answers 404 for it."""
        if getattr(user_api_key_dict, "user_role", None) == LitellmUserRoles.PROXY_ADMIN:
            return model_names
        try:
            return [name for name in model_names if await store.catalog_model(name) is not None]
        except (SnapshotUnavailable, RedisError, OSError):
            raise _catalog_unavailable() from None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: Any = None,
    ) -> dict[str, str]:
        headers = dict.fromkeys(BACKEND_REVEALING_HEADERS, "")
        headers["x-llmaas-worker"] = settings.worker_id
        metadata = getattr(user_api_key_dict, "metadata", None) or {}
        headers.update(metadata.get("llmaas_ratelimit_headers") or {})
        return headers


proxy_hooks = ProxyHooks()
# LiteLLM imports this module while it reads litellm_settings.callbacks, before it builds its
# "prometheus" callback: ours (lean_prometheus.py) is the one it will find and use.
lean_prometheus.install()
