"""The proxy hooks' settings, read once per worker from the environment (no Django here)."""

import os
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxySettings:
    redis_url: str
    redis_prefix: str
    master_key: str
    cache_ttl: float
    reservation_ttl: float  # seconds before an unsettled reservation gives its budget back
    # Completions one request may ask for (n, best_of, several prompts). llama-server generates n
    # choices but reports the usage of one, so more than one would be served and billed once:
    # raise it only when every backend reports usage summed over choices (vLLM, SGLang, OpenAI).
    max_completions: int
    # An opaque id for this worker process, sent as x-llmaas-worker: it tells operators (and
    # tests) which worker answered without revealing anything about the host.
    worker_id: str
    # How equal candidate deployments are chosen (routing.py): least_busy (fewest calls in flight
    # across every worker) or round_robin (each in turn, skipping one at its max concurrency).
    routing_policy: str = "least_busy"
    # Seconds between scrapes of the backends' own metrics (backend_load.py); 0: never scrape.
    backend_scrape_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> "ProxySettings":
        return cls(
            redis_url=os.environ.get("LLMAAS_REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_prefix=os.environ.get("LLMAAS_REDIS_PREFIX", "llmaas"),
            master_key=os.environ.get("LITELLM_MASTER_KEY", ""),
            cache_ttl=float(os.environ.get("LLMAAS_PROXY_CACHE_TTL", "60")),
            reservation_ttl=float(os.environ.get("LLMAAS_RESERVATION_TTL", "900")),
            max_completions=int(os.environ.get("LLMAAS_MAX_COMPLETIONS_PER_REQUEST", "1")),
            worker_id=secrets.token_hex(4),
            routing_policy=routing_policy(os.environ.get("LLMAAS_ROUTING_POLICY", "least_busy")),
            backend_scrape_seconds=float(os.environ.get("LLMAAS_BACKEND_SCRAPE_SECONDS", "1")),
        )


ROUTING_POLICIES = ("least_busy", "round_robin")


def routing_policy(value: str) -> str:
    policy = value.strip().lower().replace("-", "_")
    if policy not in ROUTING_POLICIES:
        raise ValueError(f"LLMAAS_ROUTING_POLICY must be one of {', '.join(ROUTING_POLICIES)}, not {value!r}")
    return policy


# One per worker process: the hooks and the route gate share it (and its worker id).
SETTINGS = ProxySettings.from_env()
