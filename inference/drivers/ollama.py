"""Ollama, through its own HTTP API (its docs' ``docs/api.md``) beside the OpenAI-compatible ``/v1``
that LiteLLM calls:

- ``GET /api/tags``: the models pulled onto the server (name, digest, size, details), also the
  health probe;
- ``POST /api/show``: one model's details, among them its quantization level;
- ``GET /api/ps``: the models loaded in memory now (busy-aware routing prefers those);
- ``POST /api/pull``: a pull, streamed as JSON lines of progress (status, digest, completed,
  total) and ending with ``{"status": "success"}`` or ``{"error": …}``;
- ``POST /api/generate`` with no prompt and a ``keep_alive``: loads a model and keeps it loaded.

A deployment pins its weights by ``digest``: an Ollama manifest digest (``sha256:`` and hex, or a
prefix of at least 12 hex digits, as ``ollama list`` shows) is compared with ``/api/tags`` after
the pull; anything else (``Q4_K_M``) is the quantization, compared with ``/api/show``. A mismatch
fails the pull: the server holds other weights than the catalog names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from inference.drivers.base import Driver, DriverError
from inference.models import Backend
from inference.proxy.backend_load import BackendLoad, ollama_loaded, ollama_name

DIGEST = re.compile(r"^(sha256:)?([0-9a-f]{12,64})$")
PULL_TIMEOUT = httpx.Timeout(10.0, read=300.0)  # a layer may take minutes between progress lines


@dataclass(frozen=True)
class PullProgress:
    """One line of a pull's progress stream."""

    status: str
    digest: str = ""
    completed: int | None = None
    total: int | None = None

    @property
    def percent(self) -> float | None:
        if not self.total or self.completed is None:
            return None
        return min(100.0, 100.0 * self.completed / self.total)


@dataclass(frozen=True)
class PulledModel:
    name: str
    digest: str  # the manifest digest /api/tags reports
    quantization: str


def pinned_digest(value: str) -> str | None:
    """The hex of a digest pin (None when the pin is a quantization level instead)."""
    match = DIGEST.match(value.strip().lower())
    return match.group(2) if match else None


class OllamaDriver(Driver):
    kind = Backend.Kind.OLLAMA

    def health_url(self) -> str:
        return f"{self.root}/api/tags"

    def post(self, path: str, body: dict[str, Any], *, timeout: float | httpx.Timeout) -> httpx.Response:
        return httpx.post(f"{self.root}{path}", json=body, headers=self.headers(), timeout=timeout)

    def tags(self, *, timeout: float) -> list[dict[str, Any]]:
        """``/api/tags``: the pulled models."""
        data = self.json(self.get(f"{self.root}/api/tags", timeout=timeout))
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise DriverError(f"{self.root}/api/tags: no models list")
        return [m for m in models if isinstance(m, dict)]

    def served_models(self, *, timeout: float) -> list[str]:
        return [str(m.get("name") or m.get("model")) for m in self.tags(timeout=timeout)]

    def show(self, model: str, *, timeout: float) -> dict[str, Any]:
        """``/api/show``: a model's details (template, parameters, ``details.quantization_level``)."""
        data = self.json(self.post("/api/show", {"model": model}, timeout=timeout))
        if not isinstance(data, dict):
            raise DriverError(f"{self.root}/api/show: not an object")
        return data

    def loaded_models(self, *, timeout: float) -> list[str]:
        """``/api/ps``: the models in memory now."""
        data = self.json(self.get(f"{self.root}/api/ps", timeout=timeout))
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise DriverError(f"{self.root}/api/ps: no models list")
        return [ollama_name(str(m.get("name") or m.get("model"))) for m in models if isinstance(m, dict)]

    def model_load(self, model: str, *, timeout: float) -> BackendLoad:
        """Whether ``model`` is loaded (Ollama reports no queue)."""
        data = self.json(self.get(f"{self.root}/api/ps", timeout=timeout))
        return BackendLoad(loaded=ollama_loaded(data, model))

    def keep_alive(self, model: str, duration: str | int, *, timeout: float) -> None:
        """Load ``model`` now and keep it loaded for ``duration`` (``"30m"``, seconds, ``-1``: for
        ever, ``0``: unload now): a generate request with no prompt."""
        self.json(self.post("/api/generate", {"model": model, "keep_alive": duration}, timeout=timeout))

    def pull(
        self, model: str, *, digest: str = "", on_progress: Callable[[PullProgress], None] | None = None
    ) -> PulledModel:
        """Pull ``model``, reporting each progress line, then check the pin (``digest``)."""
        body = {"model": model, "stream": True}
        with httpx.stream(
            "POST", f"{self.root}/api/pull", json=body, headers=self.headers(), timeout=PULL_TIMEOUT
        ) as response:
            if not response.is_success:
                response.read()
                raise DriverError(f"pull {model}: HTTP {response.status_code}: {response.text[:200]}")
            last = ""
            for line in response.iter_lines():
                if not line.strip():
                    continue
                progress = _progress(model, line)
                last = progress.status
                if on_progress is not None:
                    on_progress(progress)
        if last != "success":
            raise DriverError(f"pull {model}: the stream ended at {last!r}, not success")
        return self.verify(model, digest)

    def verify(self, model: str, digest: str, *, timeout: float = 10.0) -> PulledModel:
        """The pulled model, checked against the pin: DriverError when the server holds other weights."""
        wanted = ollama_name(model)
        entry = next((m for m in self.tags(timeout=timeout) if ollama_name(str(m.get("name") or "")) == wanted), None)
        if entry is None:
            raise DriverError(f"{model} is not among the server's models after its pull")
        held = str(entry.get("digest") or "").lower().removeprefix("sha256:")
        details = self.show(model, timeout=timeout).get("details") or {}
        quantization = str(details.get("quantization_level") or "")
        pin = digest.strip()
        hex_pin = pinned_digest(pin) if pin else None
        if hex_pin is not None and not held.startswith(hex_pin):
            raise DriverError(f"{model}: the server holds digest {held[:12]}, the catalog pins {hex_pin[:12]}")
        if pin and hex_pin is None and quantization.lower() != pin.lower():
            raise DriverError(f"{model}: the server holds quantization {quantization!r}, the catalog pins {pin!r}")
        return PulledModel(wanted, held, quantization)


def _progress(model: str, line: str) -> PullProgress:
    try:
        data = json.loads(line)
    except ValueError:
        raise DriverError(f"pull {model}: a progress line is not JSON: {line[:200]!r}") from None
    if not isinstance(data, dict):
        raise DriverError(f"pull {model}: a progress line is not an object")
    if "error" in data:
        raise DriverError(f"pull {model}: {str(data['error'])[:300]}")

    def count(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return PullProgress(
        str(data.get("status") or ""), str(data.get("digest") or ""), count("completed"), count("total")
    )
