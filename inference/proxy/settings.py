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
        )


# One per worker process: the hooks and the route gate share it (and its worker id).
SETTINGS = ProxySettings.from_env()
