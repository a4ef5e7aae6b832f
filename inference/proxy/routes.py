"""The routes of LiteLLM that the platform exposes: the OpenAI inference surface, nothing else."""

import re

# With and without /v1, as LiteLLM registers both.
INFERENCE_ROUTES = re.compile(r"^(?:/v1)?/(?:chat/completions|completions|embeddings|models|models/[^/]+|responses)$")
# Readiness probes for the orchestrator; reachable only on LiteLLM's own (private) port.
PROBE_ROUTES = frozenset({"/health/liveliness", "/health/readiness"})
