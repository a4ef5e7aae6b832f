"""Issue 18 item 1 (Ollama): the driver against a server implementing Ollama's documented endpoints
(fake_ollama.py), whose requests and replies are held to the ``ollama`` client's own types."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User
from inference.drivers import DriverError, OllamaDriver, driver_for
from inference.drivers.ollama import PullProgress, pinned_digest
from inference.health import backends_probe
from inference.models import Backend, ModelDeployment
from inference.proxy.backend_load import NOT_LOADED, LoadScraper
from inference.proxy.contract import Catalog, CatalogDeployment, CatalogModel
from inference.pulls import deployment_pull, pull_summary
from inference.services import deployment_set
from inference.tests.fake_ollama import Published, make_app
from inference.tests.serving import serving
from llmaas.celery import app as celery_app
from llmaas.errors import ApplicationError

DIGEST = "sha256:a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
LLAMA = Published(DIGEST, [1_000_000, 2_000], quantization="Q4_K_M")
QWEN = Published("sha256:" + "b" * 64, [500_000], quantization="Q8_0", family="qwen2")


@pytest.fixture
def fake() -> Iterator[tuple[str, object]]:
    app = make_app({"llama3.2:1b": LLAMA, "qwen2.5:0.5b": QWEN})
    with serving(app) as url:
        yield url, app.state.fake


def backend(url: str) -> Backend:
    return Backend(name="ollama-1", kind=Backend.Kind.OLLAMA, base_url=f"{url}/v1")


def test_it_pulls_with_streamed_progress_and_checks_the_pinned_digest(fake):
    url, state = fake
    driver = OllamaDriver(backend(url))
    seen: list[PullProgress] = []

    pulled = driver.pull("llama3.2:1b", digest=DIGEST[:19], on_progress=seen.append)

    assert pulled.name == "llama3.2:1b" and pulled.digest == DIGEST[7:] and pulled.quantization == "Q4_K_M"
    assert seen[0].status == "pulling manifest" and seen[-1].status == "success"
    layer = [p for p in seen if p.total == 1_000_000]
    assert [p.percent for p in layer] == [0.0, 50.0, 100.0]
    assert "llama3.2:1b" in driver.served_models(timeout=5)
    # What the driver sent parses as the client's own request models (the fake refuses otherwise).
    assert ("/api/pull", {"model": "llama3.2:1b", "stream": True}) in state.requests
    assert ("/api/show", {"model": "llama3.2:1b"}) in state.requests


def test_it_refuses_weights_other_than_the_pinned_digest_or_quantization(fake):
    url, _ = fake
    driver = OllamaDriver(backend(url))
    with pytest.raises(DriverError, match="the catalog pins 0000"):
        driver.pull("llama3.2:1b", digest="sha256:" + "0" * 64)
    with pytest.raises(DriverError, match="quantization 'Q8_0', the catalog pins 'Q4_K_M'"):
        driver.pull("qwen2.5:0.5b", digest="Q4_K_M")
    assert driver.pull("qwen2.5:0.5b", digest="q8_0").quantization == "Q8_0"
    assert pinned_digest("Q4_K_M") is None and pinned_digest("A80C4F17ACD5") == "a80c4f17acd5"


def test_a_pull_of_an_unknown_model_fails_with_ollamas_error(fake):
    url, _ = fake
    with pytest.raises(DriverError, match="file does not exist"):
        OllamaDriver(backend(url)).pull("nope:7b")


def test_keep_alive_loads_and_unloads_and_ps_reports_it(fake):
    url, state = fake
    driver = OllamaDriver(backend(url))
    driver.pull("llama3.2:1b")
    assert driver.loaded_models(timeout=5) == []
    assert not driver.model_load("llama3.2:1b", timeout=5).loaded

    driver.keep_alive("llama3.2:1b", "30m", timeout=5)
    assert driver.loaded_models(timeout=5) == ["llama3.2:1b"]
    assert driver.model_load("llama3.2", timeout=5).loaded is False  # llama3.2 is llama3.2:latest
    assert driver.model_load("llama3.2:1b", timeout=5).busy == 0

    driver.keep_alive("llama3.2:1b", 0, timeout=5)
    assert driver.loaded_models(timeout=5) == []
    assert ("/api/generate", {"model": "llama3.2:1b", "keep_alive": "30m"}) in state.requests


def test_the_official_client_parses_every_reply_of_the_fake(fake):
    url, _ = fake
    client = ollama.Client(host=url)
    progress = list(client.pull("llama3.2:1b", stream=True))
    assert progress[-1].status == "success" and any(p.completed == 1_000_000 for p in progress)
    assert [m.model for m in client.list().models] == ["llama3.2:1b"]
    assert client.show("llama3.2:1b").details.quantization_level == "Q4_K_M"
    client.generate(model="llama3.2:1b", keep_alive="1m")
    assert [m.model for m in client.ps().models] == ["llama3.2:1b"]
    with pytest.raises(ollama.ResponseError):
        client.show("missing:1b")


def test_the_fake_refuses_a_request_outside_the_clients_types(fake):
    url, _ = fake
    response = httpx.post(f"{url}/api/pull", json={"name": "llama3.2:1b", "model": "llama3.2:1b"})
    assert response.status_code == 400 and "PullRequest has no field ['name']" in response.text


def test_the_v1_chat_route_serves_a_pulled_model_and_marks_it_loaded(fake):
    url, _ = fake
    driver = OllamaDriver(backend(url))
    body = {"model": "llama3.2:1b", "messages": [{"role": "user", "content": "ping"}]}
    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 404
    driver.pull("llama3.2:1b")
    reply = openai.OpenAI(base_url=f"{url}/v1", api_key="none").chat.completions.create(**body)
    assert reply.choices[0].message.content == "pong"
    assert driver.loaded_models(timeout=5) == ["llama3.2:1b"]


def test_the_proxys_scraper_prefers_the_deployment_whose_model_is_loaded(fake):
    url, _ = fake
    driver = OllamaDriver(backend(url))
    driver.pull("llama3.2:1b")
    driver.pull("qwen2.5:0.5b")
    driver.keep_alive("qwen2.5:0.5b", "10m", timeout=5)

    def deployment(name: str, upstream: str) -> CatalogDeployment:
        return CatalogDeployment(name, upstream, f"{url}/v1", 4096, "0", "0", backend_kind="ollama")

    model = CatalogModel(
        "m",
        "llama3.2:1b",
        4096,
        "0",
        "0",
        deployments=(deployment("a", "llama3.2:1b"), deployment("b", "qwen2.5:0.5b")),
    )
    scraper = LoadScraper(interval=0)  # never starts its loop: the test scrapes by hand
    scraper.follow(Catalog(models=(model,)))

    async def scrape() -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            return await scraper.scrape(client)

    assert asyncio.run(scrape()) == {"a": NOT_LOADED, "b": 0}
    assert scraper.loads(["a", "b"]) == [NOT_LOADED, 0]


@pytest.mark.django_db
def test_a_deployment_pull_keeps_its_progress_for_the_admin_and_the_cli_prints_it(fake):
    url, _ = fake
    deployment_set(
        name="llama-small", backend_url=f"{url}/v1", backend_kind="ollama", upstream_model="llama3.2:1b",
        context_window=4096, digest=DIGEST,
    )  # fmt: skip
    out = io.StringIO()
    call_command("ollama_pull", "llama-small", "--keep-alive", "10m", stdout=out)
    assert "pulling manifest" in out.getvalue() and f"digest {DIGEST[7:19]}" in out.getvalue()
    assert "loaded llama3.2:1b, kept alive 10m" in out.getvalue()
    assert OllamaDriver(backend(url)).loaded_models(timeout=5) == ["llama3.2:1b"]
    deployment = ModelDeployment.objects.get(name="llama-small")
    assert deployment.pull_progress["status"] == "success"
    assert pull_summary(deployment.pull_progress) == "success " + DIGEST[7:26]
    assert backends_probe() == {deployment.backend.name: True}  # its health route: /api/tags


@pytest.mark.django_db
def test_a_failed_pull_is_recorded_and_only_ollama_backends_pull(fake):
    url, _ = fake
    deployment = deployment_set(
        name="wrong", backend_url=f"{url}/v1", backend_kind="ollama", upstream_model="llama3.2:1b",
        context_window=4096, digest="sha256:" + "f" * 64,
    )  # fmt: skip
    with pytest.raises(ApplicationError, match="the catalog pins ffff"):
        deployment_pull(deployment=deployment)
    deployment.refresh_from_db()
    assert deployment.pull_progress["status"] == "failed"
    assert pull_summary(deployment.pull_progress).startswith("failed: llama3.2:1b: the server holds digest a80c")
    with pytest.raises(CommandError, match="no deployment named 'nope'"):
        call_command("ollama_pull", "nope")
    llama = deployment_set(name="cpp", backend_url="http://127.0.0.1:9/v1", backend_kind="llamacpp",
                           upstream_model="x", context_window=512)  # fmt: skip
    with pytest.raises(ApplicationError, match="only Ollama pulls models"):
        deployment_pull(deployment=llama)
    assert type(driver_for(llama.backend)).__name__ == "LlamaCppDriver"


@pytest.mark.django_db
def test_an_operator_pulls_from_the_admin_and_sees_the_progress(fake, monkeypatch, django_capture_on_commit_callbacks):
    url, _ = fake
    deployment_set(
        name="llama-admin", backend_url=f"{url}/v1", backend_kind="ollama", upstream_model="llama3.2:1b",
        context_window=4096, digest="Q4_K_M",
    )  # fmt: skip
    cpp = deployment_set(name="cpp-admin", backend_url="http://127.0.0.1:9/v1", backend_kind="llamacpp",
                         upstream_model="x", context_window=512)  # fmt: skip
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)  # the worker's part, run here
    operator = User.objects.create_superuser(email="ops@pull.test", password=None)
    client = Client()
    client.force_login(operator)
    ollama_one = ModelDeployment.objects.get(name="llama-admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/inference/modeldeployment/",
            {"action": "pull_model", "_selected_action": [ollama_one.pk, cpp.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "Cpp-admin: not on an Ollama backend." in page and "Pulling 1 model(s)" in page
    ollama_one.refresh_from_db()
    assert ollama_one.pull_progress["status"] == "success" and ollama_one.pull_progress["quantization"] == "Q4_K_M"
    listing = client.get("/admin/inference/modeldeployment/").content.decode()
    assert "success " + DIGEST[7:26] in listing
