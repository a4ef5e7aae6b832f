"""The backends' own load, for busy-aware routing (routing.py): among equal deployments the one
whose model is loaded and whose queue is shortest wins.

Each proxy worker scrapes, off the hot path (a background task, every
``LLMAAS_BACKEND_SCRAPE_SECONDS``), the backends of the published catalog that report load:

- llama.cpp ``/metrics`` (``--metrics``): ``llamacpp:requests_processing`` + ``requests_deferred``;
- vLLM ``/metrics``: ``vllm:num_requests_running`` + ``vllm:num_requests_waiting`` (KV cache:
  ``vllm:kv_cache_usage_perc``, ``vllm:gpu_cache_usage_perc`` before v0.10);
- SGLang ``/metrics`` (``--enable-metrics``): ``sglang:num_running_reqs`` + ``sglang:num_queue_reqs``
  (KV cache: ``sglang:token_usage``);
- Ollama ``/api/ps``: whether the deployment's model is loaded (Ollama reports no queue).

The result is one number per deployment, kept in memory: running + waiting, or NOT_LOADED when
its model is not in memory. The auth hook passes it to the admission script with each candidate
(admission_lua.py), which counts the larger of it and our own in-flight count: no SQL and no added
Redis round trip. A backend that cannot be scraped (or an OpenAI-compatible upstream) counts 0,
so in-flight counts decide, as they did before; a reading older than STALE_AFTER scrapes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from inference.proxy.contract import Catalog

log = logging.getLogger("llmaas.proxy")

LLAMACPP, OLLAMA, VLLM, SGLANG = "llamacpp", "ollama", "vllm", "sglang"
# (running, waiting, KV-cache use 0..1 in order of preference) per kind with Prometheus metrics.
GAUGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    LLAMACPP: ("llamacpp:requests_processing", "llamacpp:requests_deferred", ()),
    VLLM: (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    ),
    SGLANG: ("sglang:num_running_reqs", "sglang:num_queue_reqs", ("sglang:token_usage",)),
}
# Labels of one engine's replicas of the same number (SGLang's tensor/pipeline ranks): the
# largest counts, not their sum. Other labels (vLLM's engine, SGLang's dp_rank) are summed.
RANK_LABELS = frozenset({"tp_rank", "pp_rank"})
NOT_LOADED = 1_000_000  # a deployment whose model is not in memory loses to every loaded one
STALE_AFTER = 3  # scrape intervals after which a reading no longer counts
SCRAPE_TIMEOUT = 0.5  # seconds

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = list[tuple[dict[str, str], float]]


def parse_prometheus(text: str) -> dict[str, Series]:
    """The samples of a Prometheus text exposition: name → [(labels, value)] (comments and
    malformed lines are skipped; NaN values too)."""
    samples: dict[str, Series] = defaultdict(list)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        if math.isnan(value):
            continue
        labels = dict(_LABEL.findall(match.group(3) or ""))
        samples[match.group(1)].append((labels, value))
    return samples


def _total(series: Series) -> float:
    """Summed over engines, the largest over one engine's ranks."""
    engines: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in series:
        engine = tuple(sorted((k, v) for k, v in labels.items() if k not in RANK_LABELS))
        engines[engine] = max(engines.get(engine, value), value)
    return sum(engines.values())


@dataclass(frozen=True)
class BackendLoad:
    running: float = 0.0
    waiting: float = 0.0
    kv_cache: float | None = None  # fraction of the KV cache in use, when the backend says
    loaded: bool = True  # whether the deployment's model is in memory

    @property
    def busy(self) -> int:
        """What the admission script compares across candidates (its in-flight counts' unit)."""
        return math.ceil(self.running + self.waiting) if self.loaded else NOT_LOADED


def load_from_metrics(kind: str, text: str) -> BackendLoad | None:
    """The load in a metrics page of ``kind``; None when the page has no running gauge (e.g.
    SGLang started without ``--enable-metrics``)."""
    names = GAUGES.get(kind)
    if names is None:
        return None
    running, waiting, kv_names = names
    samples = parse_prometheus(text)
    if running not in samples:
        return None
    kv = next((_total(samples[n]) for n in kv_names if n in samples), None)
    return BackendLoad(_total(samples[running]), _total(samples.get(waiting, [])), kv)


def backend_root(base_url: str) -> str:
    """The server's root: the OpenAI base URL without its ``/v1``."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def load_url(kind: str, base_url: str) -> str | None:
    """Where a backend of ``kind`` reports its load (None: it does not)."""
    if kind in GAUGES:
        return f"{backend_root(base_url)}/metrics"
    if kind == OLLAMA:
        return f"{backend_root(base_url)}/api/ps"
    return None


def ollama_name(model: str) -> str:
    """Ollama's full name of a model: ``llama3.2`` is ``llama3.2:latest``."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def ollama_loaded(body: object, model: str) -> bool:
    """Whether an ``/api/ps`` reply lists ``model`` (by name or by model)."""
    wanted = ollama_name(model)
    entries = body.get("models") if isinstance(body, dict) else None
    return any(
        isinstance(e, dict)
        and wanted in (ollama_name(str(e.get("name") or "")), ollama_name(str(e.get("model") or "")))
        for e in entries or ()
    )


@dataclass(frozen=True)
class Target:
    deployment_id: str
    kind: str
    url: str
    upstream_model: str


class LoadScraper:
    """One per worker: follows the catalog, scrapes in the background, answers ``busy()``."""

    def __init__(self, interval: float, timeout: float = SCRAPE_TIMEOUT) -> None:
        self.interval = interval
        self.timeout = timeout
        self._targets: tuple[Target, ...] = ()
        self._busy: dict[str, tuple[int, float]] = {}  # deployment → (busy, when read)
        self._task: asyncio.Task[None] | None = None

    def follow(self, catalog: Catalog) -> None:
        """Scrape the backends of this catalog from now on (called with each catalog loaded)."""
        targets = []
        for model in catalog.models:
            for d in model.deployments:
                url = load_url(d.backend_kind, d.backend_url)
                if url is not None:
                    targets.append(Target(d.id, d.backend_kind, url, d.upstream_model))
        self._targets = tuple(targets)
        if self.interval > 0 and self._targets and (self._task is None or self._task.done()):
            # No event loop (a synchronous caller): the next catalog load starts it.
            with contextlib.suppress(RuntimeError):
                self._task = asyncio.get_running_loop().create_task(self._run())

    def busy(self, deployment_id: str) -> int:
        reading = self._busy.get(deployment_id)
        if reading is None or time.monotonic() - reading[1] > STALE_AFTER * max(self.interval, 0.1):
            return 0
        return reading[0]

    def loads(self, deployment_ids: Iterable[str]) -> list[int]:
        return [self.busy(d) for d in deployment_ids]

    async def scrape(self, client: httpx.AsyncClient) -> dict[str, int]:
        """One round: each backend read once, however many deployments it serves."""
        urls = {t.url: t.kind for t in self._targets}
        replies = await asyncio.gather(*(self._read(client, url) for url in urls), return_exceptions=True)
        pages = {url: r for url, r in zip(urls, replies, strict=True) if isinstance(r, httpx.Response)}
        now, found = time.monotonic(), {}
        for target in self._targets:
            page = pages.get(target.url)
            if page is None:
                continue
            if target.kind == OLLAMA:
                try:
                    load: BackendLoad | None = BackendLoad(loaded=ollama_loaded(page.json(), target.upstream_model))
                except ValueError:
                    load = None
            else:
                load = load_from_metrics(target.kind, page.text)
            if load is not None:
                found[target.deployment_id] = load.busy
                self._busy[target.deployment_id] = (load.busy, now)
        return found

    async def _read(self, client: httpx.AsyncClient, url: str) -> httpx.Response | None:
        response = await client.get(url, timeout=self.timeout)
        return response if response.is_success else None

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while self._targets:
                started = time.monotonic()
                try:
                    await self.scrape(client)
                except Exception:  # never let one bad round stop the loop
                    log.exception("scraping the backends' load failed")
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
