"""Our proxy hooks' Prometheus counters, beside LiteLLM's own (its ``prometheus`` callback).

The LiteLLM workers share ``PROMETHEUS_MULTIPROC_DIR`` (the stack wipes it at start): each worker
writes its samples there and LiteLLM's ``/metrics`` sums them all, whichever worker answers. The
route gate (asgi.py) serves that page to the master key only; nginx never routes it.

Counting is in-process (a file-backed float per series): no Redis round trip on the request path.
The shipper is another process, often on another host: its counters go to the Redis hash
``{p}:metrics`` (shipper.py, beside the budget reconcile's drift), which Django's ``/metrics`` reports.
"""

from __future__ import annotations

import os

from prometheus_client import Counter

from inference.proxy.admission import Admitted, InsufficientBalance, Refusal, Saturated


def ensure_multiprocess_dir() -> None:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` if it is set but missing (a fresh container's /tmp):
    prometheus_client cannot write its samples otherwise. Never wiped here: every worker shares it
    (the stack wipes it before the workers start)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)


ensure_multiprocess_dir()  # before any series is created, ours or LiteLLM's (asgi.py imports this first)

ADMISSIONS = Counter(
    "llmaas_admissions_total",
    "Generation requests by admission outcome (admitted, limited, insufficient_balance, at_capacity, "
    "invalid, unavailable), the scope that refused them (key, org) and the limit (budget, rpm, tpm, parallel).",
    ["outcome", "scope", "limit"],
)
for _outcome in ("admitted", "insufficient_balance", "at_capacity", "invalid", "unavailable"):
    ADMISSIONS.labels(_outcome, "", "")  # each series exists from the start, at 0


def count_admission(outcome: object) -> None:
    """Count one admission script's answer (``Admitted``, ``Refusal``, ``InsufficientBalance``,
    ``Saturated``) or the name of an outcome decided before it (``"invalid"``, ``"unavailable"``)."""
    if isinstance(outcome, Admitted):
        ADMISSIONS.labels("admitted", "", "").inc()
    elif isinstance(outcome, Refusal):
        ADMISSIONS.labels("limited", outcome.scope, outcome.kind).inc()
    elif isinstance(outcome, InsufficientBalance):
        ADMISSIONS.labels("insufficient_balance", "", "").inc()
    elif isinstance(outcome, Saturated):
        ADMISSIONS.labels("at_capacity", "", "").inc()
    elif isinstance(outcome, str):
        ADMISSIONS.labels(outcome, "", "").inc()
