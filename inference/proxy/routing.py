"""Adaptive routing: which deployments of a public model may serve a request.

Rules, in order:
- a valid ``x-llmaas-routing-profile`` header (``throughput`` / ``long_context``) asks for the
  deployments of that profile (all of them when the model has none of it);
- otherwise a prompt whose estimated tokens exceed every ``throughput`` deployment's window
  goes to the ``long_context`` ones; other prompts go to the ``throughput`` ones (a model with
  deployments of one profile only uses them all);
- among the candidates left, admission's script (admission_lua.py) takes the least busy one
  that has a free slot under its max concurrency, counting in-flight calls across every worker.

The chosen deployment's LiteLLM id (deployments.router_id) becomes the request's model in the
pre-call hook, so LiteLLM's router serves exactly that deployment; the usage record carries it
as ``deployment_id``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from inference.proxy.admission import prompt_upper_bound
from inference.proxy.contract import PROFILE_LONG_CONTEXT, PROFILE_THROUGHPUT, PROFILES, CatalogDeployment, CatalogModel

ROUTING_PROFILE_HEADER = "x-llmaas-routing-profile"
# Bytes per token for routing estimates: English averages about 4 with BPE vocabularies; 3
# errs towards the long-context deployment, where a prompt that would overflow the throughput
# window (a 400 from the backend) still fits.
BYTES_PER_TOKEN = 3


def estimated_prompt_tokens(body: dict[str, Any]) -> int:
    return math.ceil(prompt_upper_bound(body) / BYTES_PER_TOKEN)


def requested_profile(headers: Mapping[str, str]) -> str | None:
    value = (headers.get(ROUTING_PROFILE_HEADER) or "").strip().lower().replace("-", "_")
    return value if value in PROFILES else None


def candidates(model: CatalogModel, body: dict[str, Any], profile: str | None = None) -> list[CatalogDeployment]:
    """The deployments that may serve this request, equals among which the least busy wins."""
    deployments = list(model.deployments)
    if len(deployments) <= 1:
        return deployments
    if profile is not None:
        return [d for d in deployments if d.profile == profile] or deployments
    throughput = [d for d in deployments if d.profile == PROFILE_THROUGHPUT]
    long_context = [d for d in deployments if d.profile == PROFILE_LONG_CONTEXT]
    if not throughput or not long_context:
        return deployments
    if estimated_prompt_tokens(body) > max(d.context_window for d in throughput):
        return long_context
    return throughput


def needs_admission(model_candidates: list[CatalogDeployment]) -> bool:
    """Whether choosing among the candidates needs Redis (load, or a concurrency limit)."""
    return len(model_candidates) > 1 or any(d.max_concurrency is not None for d in model_candidates)
