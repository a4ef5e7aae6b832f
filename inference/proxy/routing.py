"""Adaptive routing: which deployments of a public model may serve a request.

Rules, in order:
- a valid ``x-llmaas-routing-profile`` header (``throughput`` / ``long_context``) asks for the
  deployments of that profile (all of them when the model has none of it);
- otherwise a prompt whose estimated tokens exceed every ``throughput`` deployment's window
  goes to the ``long_context`` ones; other prompts go to the ``throughput`` ones (a model with
  deployments of one profile only uses them all);
- among the candidates left, admission's script (admission_lua.py) takes the least busy one
  that has a free slot under its max concurrency, counting in-flight calls across every worker
  (``LLMAAS_ROUTING_POLICY=least_busy``, the default); with ``round_robin`` the candidates are
  rotated one step per call in this worker (ordered()) and the script takes the first with a free
  slot, so each deployment gets its turn whatever its load;
  when all are taken the call waits up to the candidates' queue timeout for a slot (retrying the
  script with a short backoff; at most MAX_WAITING calls per worker wait), else it is refused.

The chosen deployment's LiteLLM id (deployments.router_id) becomes the request's model in the
pre-call hook, so LiteLLM's router serves exactly that deployment; the usage record carries it
as ``deployment_id``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from inference.proxy.admission import Saturated, prompt_upper_bound
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


LEAST_BUSY, ROUND_ROBIN = "least_busy", "round_robin"
_turns = itertools.count()


def ordered(model_candidates: list[CatalogDeployment], policy: str) -> list[CatalogDeployment]:
    """The candidates in the order the admission script considers them: as given for least_busy
    (the first among equally busy ones wins), rotated one step per call for round_robin."""
    if policy != ROUND_ROBIN or len(model_candidates) <= 1:
        return model_candidates
    turn = next(_turns) % len(model_candidates)
    return model_candidates[turn:] + model_candidates[:turn]


def needs_admission(model_candidates: list[CatalogDeployment]) -> bool:
    """Whether choosing among the candidates needs Redis (load, or a concurrency limit)."""
    # An on-demand deployment's calls are always counted: the fleet agent never stops it with one in flight.
    return len(model_candidates) > 1 or any(d.max_concurrency is not None or d.on_demand for d in model_candidates)


# Calls one worker lets wait for a slot at once; past it a saturated call is refused at once, so a
# burst can never pile up connections without bound.
MAX_WAITING = 256
RETRY_FIRST, RETRY_MOST = 0.02, 0.25  # seconds between tries, doubling
_waiting = 0
Outcome = TypeVar("Outcome")


def queue_timeout(model_candidates: list[CatalogDeployment]) -> float:
    return max((d.queue_timeout_s for d in model_candidates), default=0.0)


async def admit_waiting(reserve: Callable[[], Awaitable[Outcome]], timeout: float) -> Outcome:
    """``reserve()``'s outcome; while it is Saturated, try again until ``timeout`` seconds passed
    (the bounded queue). Each try is one admission script: nothing is held while waiting."""
    global _waiting
    outcome = await reserve()
    if not isinstance(outcome, Saturated) or timeout <= 0 or _waiting >= MAX_WAITING:
        return outcome
    deadline = time.monotonic() + timeout
    pause = RETRY_FIRST
    _waiting += 1
    try:
        while isinstance(outcome, Saturated) and time.monotonic() + pause < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MOST)
            outcome = await reserve()
    finally:
        _waiting -= 1
    return outcome
