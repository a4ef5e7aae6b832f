"""Issue 18 items 1 and 4: the backends' own load as the drivers and the proxy's scraper read it.

vLLM and SGLang cannot run here (no GPU): their gauges are read from recorded pages under
fixtures/metrics/, built from the metric names and label sets of their sources; their OpenAI API
is exercised against a real llama-server (the same routes the vLLM/SGLang drivers call). llama.cpp
is the real server throughout."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inference.drivers import DriverError, driver_for
from inference.models import Backend
from inference.proxy.backend_load import (
    NOT_LOADED,
    BackendLoad,
    LoadScraper,
    load_from_metrics,
    load_url,
    parse_prometheus,
)
from inference.proxy.contract import Catalog, CatalogDeployment, CatalogModel
from inference.tests.serving import serving
from inference.tests.test_data_plane import poll
from stack import assets
from stack.processes import free_port, http_ok

PAGES = Path(__file__).parent / "fixtures" / "metrics"


def page(name: str) -> str:
    return (PAGES / name).read_text()


def test_it_sums_vllm_engines_and_reads_the_kv_cache_under_either_name():
    v1 = load_from_metrics("vllm", page("vllm.txt"))
    assert v1 == BackendLoad(running=7.0, waiting=3.0, kv_cache=0.375) and v1.busy == 10
    v0 = load_from_metrics("vllm", page("vllm_v0.txt"))
    assert v0 == BackendLoad(running=2.0, waiting=5.0, kv_cache=0.81) and v0.busy == 7


def test_it_counts_sglangs_tensor_parallel_ranks_once():
    load = load_from_metrics("sglang", page("sglang.txt"))
    assert load == BackendLoad(running=6.0, waiting=3.0, kv_cache=0.42) and load.busy == 9


def test_a_page_without_the_gauges_reads_as_no_load_and_other_kinds_have_none():
    assert load_from_metrics("sglang", page("sglang_no_metrics.txt")) is None
    assert load_from_metrics("vllm", page("sglang.txt")) is None  # another server's gauges
    assert load_from_metrics("openai-compatible", page("vllm.txt")) is None
    assert load_url("openai-compatible", "http://up:1/v1") is None
    assert load_url("vllm", "http://gpu-1:8000/v1") == "http://gpu-1:8000/metrics"
    assert load_url("ollama", "http://gpu-1:11434/v1/") == "http://gpu-1:11434/api/ps"


def test_the_parser_skips_comments_malformed_lines_and_nan_and_keeps_escaped_labels():
    samples = parse_prometheus(
        '# HELP x y\nx{a="q\\"uote",b="2"} 1.5 1700000000\nnot a sample\nx{a="z"} NaN\ny 2e3\nz{a="1"} oops\n'
    )
    assert samples == {"x": [({"a": 'q\\"uote', "b": "2"}, 1.5)], "y": [({}, 2000.0)]}
    assert BackendLoad(running=1, waiting=0.5).busy == 2 and BackendLoad(loaded=False).busy == NOT_LOADED


@pytest.fixture(scope="module")
def llama() -> Iterator[str]:
    """A real tiny llama-server with --metrics and two slots."""
    port = free_port()
    argv = [
        str(assets.llama_server()), "-m", str(assets.tiny_gguf()), "--host", "127.0.0.1", "--port", str(port),
        "--alias", "tiny-random", "-c", "4096", "-np", "2", "-t", "1", "--metrics", "--no-webui",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert poll(http_ok(f"http://127.0.0.1:{port}/health"), timeout=60), "llama-server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def busy_calls(url: str, count: int, tokens: int) -> list[threading.Thread]:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": tokens}
    threads = [
        threading.Thread(target=httpx.post, args=(f"{url}/v1/chat/completions",), kwargs={"json": body, "timeout": 120})
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    return threads


def test_the_llamacpp_driver_reads_the_real_servers_queue(llama):
    driver = driver_for(Backend(name="cpp", kind=Backend.Kind.LLAMACPP, base_url=f"{llama}/v1"))
    assert driver.probe(timeout=5).ok and driver.served_models(timeout=5) == ["tiny-random"]
    assert driver.load(timeout=5) == BackendLoad(running=0.0, waiting=0.0)
    threads = busy_calls(llama, 4, 1500)  # two slots: two run, two are deferred
    seen: list[BackendLoad | None] = []
    try:
        assert poll(lambda: seen.append(driver.load(timeout=5)) or seen[-1] == BackendLoad(2.0, 2.0), timeout=30), seen
    finally:
        for t in threads:
            t.join()


@pytest.mark.parametrize("kind", [Backend.Kind.VLLM, Backend.Kind.SGLANG, Backend.Kind.OPENAI_COMPATIBLE])
def test_the_openai_compatible_drivers_probe_and_list_models_on_a_real_openai_server(llama, kind, monkeypatch):
    monkeypatch.setenv("LLMAAS_TEST_UPSTREAM_KEY", "upstream-secret")
    backend = Backend(name="x", kind=kind, base_url=f"{llama}/v1", upstream_key_env="LLMAAS_TEST_UPSTREAM_KEY")
    driver = driver_for(backend)
    assert driver.headers() == {"Authorization": "Bearer upstream-secret"}  # read from the env, never stored
    probe = driver.probe(timeout=5)
    assert probe.ok and probe.latency_ms is not None
    assert driver.served_models(timeout=5) == ["tiny-random"]
    # None for either reason: an OpenAI-compatible upstream reports no load; llama-server's page
    # has no vLLM or SGLang gauges (those are read from the recorded pages above).
    assert driver.load(timeout=5) is None


def test_a_probe_names_what_went_wrong():
    dead = driver_for(Backend(name="d", kind=Backend.Kind.VLLM, base_url=f"http://127.0.0.1:{free_port()}/v1"))
    probe = dead.probe(timeout=2)
    assert not probe.ok and probe.latency_ms is None and probe.error.startswith("ConnectError")
    with pytest.raises(httpx.ConnectError):
        dead.load(timeout=2)


def recorded_metrics_app(pages: dict[str, str]) -> Starlette:
    """Serves the recorded pages (vLLM and SGLang cannot run here): /<name>/metrics."""

    async def metrics(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in pages:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(pages[name], media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/{name}/metrics", metrics)])


def test_the_scraper_reads_each_backend_once_and_forgets_stale_or_failing_ones(llama):
    app = recorded_metrics_app({"vllm": page("vllm.txt"), "sglang": page("sglang.txt")})
    with serving(app) as url:

        def deployment(name: str, base: str, kind: str) -> CatalogDeployment:
            return CatalogDeployment(name, "m", base, 4096, "0", "0", backend_kind=kind)

        deployments = (
            deployment("v-a", f"{url}/vllm/v1", "vllm"),
            deployment("v-b", f"{url}/vllm/v1", "vllm"),  # one server, two deployments: one read
            deployment("s", f"{url}/sglang/v1", "sglang"),
            deployment("gone", f"{url}/missing/v1", "vllm"),  # a 404: no reading
            deployment("cpp", f"{llama}/v1", "llamacpp"),
            deployment("up", "http://127.0.0.1:9/v1", "openai-compatible"),  # never scraped
        )
        scraper = LoadScraper(interval=0.2)
        scraper.follow(Catalog(models=(CatalogModel("m", "m", 4096, "0", "0", deployments=deployments),)))

        async def scrape() -> dict[str, int]:
            async with httpx.AsyncClient() as client:
                return await scraper.scrape(client)

        assert asyncio.run(scrape()) == {"v-a": 10, "v-b": 10, "s": 9, "cpp": 0}
        assert scraper.loads(["v-a", "s", "gone", "up", "cpp"]) == [10, 9, 0, 0, 0]
    assert poll(lambda: scraper.busy("v-a") == 0, timeout=5)  # older than STALE_AFTER intervals


def test_a_driver_error_names_the_url_and_status(llama):
    driver = driver_for(Backend(name="v", kind=Backend.Kind.VLLM, base_url=f"{llama}/nothing/v1"))
    with pytest.raises(DriverError, match=r"/nothing/v1/models: HTTP 404"):
        driver.served_models(timeout=5)
