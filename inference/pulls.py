"""Pulls of a deployment's model onto its Ollama backend, with the progress kept on the
deployment (``pull_progress``) while it streams: the admin shows it, the CLI prints it."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from django.utils import timezone

from inference.drivers import DriverError, OllamaDriver
from inference.drivers.ollama import PulledModel, PullProgress
from inference.models import Backend, ModelDeployment
from llmaas.errors import ApplicationError

SAVE_EVERY = 0.5  # seconds between progress writes (the stream may send hundreds a second)


def _save(deployment: ModelDeployment, **progress: object) -> None:
    deployment.pull_progress = {**progress, "at": timezone.now().isoformat()}
    ModelDeployment.objects.filter(pk=deployment.pk).update(pull_progress=deployment.pull_progress)


def deployment_pull(
    *, deployment: ModelDeployment, on_progress: Callable[[PullProgress], None] | None = None
) -> PulledModel:
    """Pull the deployment's ``upstream_model`` onto its Ollama backend and check its pin
    (``digest``); the progress is saved as it streams, the outcome at the end."""
    if deployment.backend.kind != Backend.Kind.OLLAMA:
        raise ApplicationError(
            f"{deployment.name} runs on a {deployment.backend.kind} backend; only Ollama pulls models.",
            code="not_an_ollama_backend",
        )
    driver = OllamaDriver(deployment.backend)
    last_save = 0.0

    def report(progress: PullProgress) -> None:
        nonlocal last_save
        if on_progress is not None:
            on_progress(progress)
        now = time.monotonic()
        if now - last_save >= SAVE_EVERY:
            last_save = now
            _save(
                deployment, status=progress.status, digest=progress.digest,
                completed=progress.completed, total=progress.total,
            )  # fmt: skip

    _save(deployment, status="starting")
    try:
        pulled = driver.pull(deployment.upstream_model, digest=deployment.digest, on_progress=report)
    except (DriverError, httpx.HTTPError) as exc:
        _save(deployment, status="failed", error=str(exc)[:500])
        raise ApplicationError(f"Pulling {deployment.upstream_model} failed: {exc}", code="pull_failed") from None
    except Exception as exc:
        _save(deployment, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    _save(deployment, status="success", digest=pulled.digest, quantization=pulled.quantization)
    return pulled


def pull_summary(progress: dict[str, object]) -> str:
    """One line for the admin: ``pulling sha256:… 42% (1.2 GB of 2.9 GB)``, ``success``, …"""
    if not progress:
        return "never pulled"
    status = str(progress.get("status") or "")
    if status == "failed":
        return f"failed: {progress.get('error', '')}"
    completed, total = progress.get("completed"), progress.get("total")
    if isinstance(completed, int) and isinstance(total, int) and total > 0:
        return f"{status} {100 * completed / total:.0f}% ({completed / 1e9:.2f} GB of {total / 1e9:.2f} GB)"
    digest = str(progress.get("digest") or "")
    return f"{status} {digest[:19]}".strip()
