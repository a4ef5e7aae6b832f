"""Whether a managed backend is busy, from its own Prometheus page: requests running or queued
(llama.cpp ``llamacpp:requests_processing`` + ``requests_deferred``; vLLM ``vllm:num_requests_running``
+ ``num_requests_waiting``; SGLang ``sglang:num_running_reqs`` + ``num_queue_reqs``), and a counter of
the tokens it processed (any ``<kind>:…tokens…_total``), which moves when a call came and went
between two looks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

GAUGES = {
    "llamacpp": ("llamacpp:requests_processing", "llamacpp:requests_deferred"),
    "vllm": ("vllm:num_requests_running", "vllm:num_requests_waiting"),
    "sglang": ("sglang:num_running_reqs", "sglang:num_queue_reqs"),
}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class Activity:
    requests: float  # running + queued now
    tokens: float  # a counter: it only grows while the process lives


def parse_activity(kind: str, text: str) -> Activity:
    gauges = GAUGES.get(kind, ())
    prefix = f"{kind}:"
    requests = tokens = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        try:
            value = float(match.group(2))
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        name = match.group(1)
        if name in gauges:
            requests += value
        elif name.startswith(prefix) and "tokens" in name and name.endswith("_total"):
            tokens += value
    return Activity(requests, tokens)
