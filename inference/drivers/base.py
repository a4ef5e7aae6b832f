"""What every backend driver does: probe its health, list the models it serves, read its load.

A driver wraps one Backend row; it talks HTTP to the server and never stores its key: the upstream
key is read from the environment variable the backend names (``upstream_key_env``) at each call.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import httpx

from inference.models import Backend
from inference.proxy.backend_load import BackendLoad, backend_root

ERROR_MAX = 500


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None
    error: str = ""


class DriverError(Exception):
    """The backend answered something other than what the driver asked for (or not at all)."""


class Driver:
    """An OpenAI-compatible server (any upstream): health is its ``/models`` listing; it reports
    no load (routing then counts our own in-flight calls)."""

    kind = Backend.Kind.OPENAI_COMPATIBLE

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.base = backend.base_url.rstrip("/")
        self.root = backend_root(backend.base_url)

    def headers(self) -> dict[str, str]:
        """The upstream key as a bearer token, from the environment (never from the database)."""
        env = self.backend.upstream_key_env
        key = os.environ.get(env, "") if env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, url: str, *, timeout: float) -> httpx.Response:
        return httpx.get(url, headers=self.headers(), timeout=timeout, follow_redirects=False)

    def health_url(self) -> str:
        return f"{self.base}/models"

    def probe(self, *, timeout: float) -> Probe:
        """One probe: a 2xx within ``timeout`` is healthy; anything else names what went wrong."""
        started = time.monotonic()
        try:
            response = self.get(self.health_url(), timeout=timeout)
        except httpx.HTTPError as exc:
            return Probe(False, None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX])
        latency = (time.monotonic() - started) * 1000
        if response.is_success:
            return Probe(True, latency)
        return Probe(False, latency, f"HTTP {response.status_code}: {response.text[:200]}"[:ERROR_MAX])

    def served_models(self, *, timeout: float) -> list[str]:
        """The model ids the server serves (OpenAI ``GET /models``)."""
        data = self.json(self.get(f"{self.base}/models", timeout=timeout))
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise DriverError(f"{self.base}/models: no data list")
        return [str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e]

    def load(self, *, timeout: float) -> BackendLoad | None:
        """The server's own load (None: it reports none)."""
        return None

    @staticmethod
    def json(response: httpx.Response) -> object:
        if not response.is_success:
            raise DriverError(f"{response.request.url}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise DriverError(f"{response.request.url}: not JSON") from None
