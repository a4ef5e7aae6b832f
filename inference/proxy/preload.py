"""Optional modules LiteLLM imports on every request, settled once at start-up.

LiteLLM 1.106's auth imports ``litellm.integrations.otel.logger`` inside every request (to
route OpenTelemetry spans). Without ``opentelemetry-sdk`` installed that import fails, and a
failed import is not cached: Python re-reads and re-runs the module up to the failing line each
time, 0.3–0.7 ms of the worker's CPU per request (bench/profile.py found it). A module that
cannot be imported at start-up is recorded as missing (``None`` in ``sys.modules``, Python's
documented way), so later imports fail at once, with the same ``ModuleNotFoundError`` (an
``ImportError``) the caller already handles. A module that imports is left alone.
"""

from __future__ import annotations

import importlib
import logging
import sys

log = logging.getLogger("llmaas.proxy")

PER_REQUEST_OPTIONAL = ("litellm.integrations.otel.logger",)


def settle_optional_imports(names: tuple[str, ...] = PER_REQUEST_OPTIONAL) -> list[str]:
    """Import each module once; return those that cannot be imported (now marked missing)."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            sys.modules[name] = None  # type: ignore[assignment]
            missing.append(name)
            log.info("optional module %s is not importable (%s): later imports fail at once", name, exc)
    return missing
