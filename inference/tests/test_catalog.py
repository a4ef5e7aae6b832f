"""The fleet catalog in Django: services, publishing, health probes and GET /api/models/ (real
PostgreSQL and Redis; the probed backend is a real HTTP server on a free port)."""

import http.server
import re
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from accounts.services import organization_create
from inference.health import backends_probe
from inference.models import Backend, BackendHealthCheck, ModelDeployment
from inference.proxy.contract import Catalog
from inference.services import alias_set, backend_set, deployment_enable, deployment_set
from llmaas.errors import ApplicationError
from stack.processes import free_port


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def live_backend() -> Iterator[tuple[int, http.server.HTTPServer]]:
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port, server
    server.shutdown()
    server.server_close()


def published(redis_client, rkeys) -> Catalog:
    return Catalog.from_json(redis_client.get(rkeys.catalog))


@pytest.fixture
def rkeys(settings):
    from inference.proxy.contract import RedisKeys

    return RedisKeys(settings.REDIS_PREFIX)


def two_deployments(url_fast: str, url_long: str) -> None:
    fast = backend_set(name="gpu-fast", base_url=url_fast, kind=Backend.Kind.LLAMACPP, gpu_ids="0")
    long = backend_set(name="gpu-long", base_url=url_long, kind=Backend.Kind.VLLM, gpu_ids="1,2")
    deployment_set(
        name="m-fast",
        public_name="m",
        backend=fast,
        upstream_model="m",
        context_window=512,
        input_price_per_mtok=Decimal("0.1"),
        output_price_per_mtok=Decimal("0.2"),
        max_concurrency=2,
    )
    deployment_set(name="m-long", public_name="m", backend=long, upstream_model="m", context_window=8192,
                   routing_profile="long_context", input_price_per_mtok=Decimal("0.3"),
                   output_price_per_mtok=Decimal("0.4"))  # fmt: skip


def test_it_publishes_each_public_model_with_its_deployments_aliases_and_dearest_prices(
    db, redis_client, rkeys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        two_deployments("http://gpu-1:8000/v1", "http://gpu-2:8000/v1")
        alias_set(name="m-latest", public_name="m")
    catalog = published(redis_client, rkeys)
    (model,) = catalog.models
    assert (model.name, model.context_window, model.input_price_per_mtok, model.output_price_per_mtok) == (
        "m", 8192, "0.300000", "0.400000"
    )  # fmt: skip
    by_id = {d.id: d for d in model.deployments}
    assert by_id["m-fast"].max_concurrency == 2 and by_id["m-long"].profile == "long_context"
    assert catalog.lookup()["m-latest"] is catalog.lookup()["m"]

    with django_capture_on_commit_callbacks(execute=True):
        deployment_enable(name="m-fast", enabled=False)
    assert [d.id for d in published(redis_client, rkeys).models[0].deployments] == ["m-long"]
    with django_capture_on_commit_callbacks(execute=True):
        deployment_enable(name="m-long", enabled=False)
    catalog = published(redis_client, rkeys)
    assert catalog.models == () and "m-latest" not in catalog.lookup()  # disabled: no name serves it


def test_it_refuses_a_chat_and_an_embedding_deployment_under_one_name_and_an_alias_shadowing_a_model(db):
    deployment_set(
        name="e", backend_url="http://gpu-1:8000/v1", upstream_model="e", context_window=512, mode="embedding"
    )
    with pytest.raises(ApplicationError) as mixed:
        deployment_set(name="e-chat", public_name="e", backend_url="http://gpu-1:8000/v1", upstream_model="c",
                       context_window=512)  # fmt: skip
    assert mixed.value.code == "invalid_catalog_entry" and "mode" in mixed.value.message
    with pytest.raises(ApplicationError) as shadow:
        alias_set(name="e", public_name="other")
    assert shadow.value.code == "invalid_catalog_entry"


def test_it_takes_a_failing_backend_out_of_routing_and_puts_it_back_when_it_answers(
    db, redis_client, rkeys, live_backend, django_capture_on_commit_callbacks
):
    port, server = live_backend
    dead = free_port()
    with django_capture_on_commit_callbacks(execute=True):
        two_deployments(f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{dead}/v1")
        assert backends_probe() == {"gpu-fast": True, "gpu-long": False}
    assert [d.id for d in published(redis_client, rkeys).models[0].deployments] == ["m-fast"]
    long = Backend.objects.get(name="gpu-long")
    assert long.health == Backend.Health.UNHEALTHY and "ConnectError" in long.health_error

    server.shutdown()
    server.server_close()
    with django_capture_on_commit_callbacks(execute=True):
        assert backends_probe() == {"gpu-fast": False, "gpu-long": False}
    model = published(redis_client, rkeys).models[0]
    # Every deployment down: all are routed ("panic"), so the first to come back serves at once.
    assert {d.id for d in model.deployments} == {"m-fast", "m-long"}

    revived = http.server.HTTPServer(("127.0.0.1", dead), _Health)
    threading.Thread(target=revived.serve_forever, daemon=True).start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            # vLLM is probed on /v1/models, which this server answers 404: still down.
            assert backends_probe()["gpu-long"] is False
            Backend.objects.filter(name="gpu-long").update(kind=Backend.Kind.LLAMACPP)
            assert backends_probe()["gpu-long"] is True
    finally:
        revived.shutdown()
        revived.server_close()
    assert [d.id for d in published(redis_client, rkeys).models[0].deployments] == ["m-long"]
    assert BackendHealthCheck.objects.filter(backend__name="gpu-long").count() == 4


def test_it_lists_the_models_an_organization_may_use_with_prices_windows_and_health(db, make_user, api):
    alice = make_user("alice")
    org = organization_create(name="A", owner=alice)
    two_deployments("http://gpu-1:8000/v1", "http://gpu-2:8000/v1")
    deployment_set(
        name="e", backend_url="http://gpu-3:8000/v1", upstream_model="e", context_window=512, mode="embedding"
    )
    deployment_set(
        name="off", backend_url="http://gpu-3:8000/v1", upstream_model="o", context_window=512, enabled=False
    )
    alias_set(name="m-latest", public_name="m")
    Backend.objects.filter(name="gpu-long").update(health=Backend.Health.UNHEALTHY)
    BackendHealthCheck.objects.create(backend=Backend.objects.get(name="gpu-long"), ok=False, error="down")

    response = api(alice, org).get("/api/models/")
    assert response.status_code == 200, response.content
    models = {m["name"]: m for m in response.json()["results"]}
    assert set(models) == {"m", "e"}  # "off" is disabled
    m = models["m"]
    assert (m["context_window"], m["input_price_per_mtok"], m["output_price_per_mtok"]) == (
        8192,
        "0.300000",
        "0.400000",
    )
    assert (m["mode"], m["aliases"], m["available"], m["health"]) == ("chat", ["m-latest"], True, "degraded")
    long = next(d for d in m["deployments"] if d["name"] == "m-long")
    assert long["health"] == "unhealthy" and long["health_history"][0]["ok"] is False
    assert "base_url" not in long and "gpu-2" not in response.content.decode()
    assert models["e"]["mode"] == "embedding"

    org.allowed_models = ["e"]
    org.save(update_fields=["allowed_models"])
    assert [m["name"] for m in api(alice, org).get("/api/models/").json()["results"]] == ["e"]
    assert ModelDeployment.objects.count() == 4


def inline_management(prefix: str) -> dict[str, str]:
    return {f"{prefix}-{k}": v for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"),
                                            ("MAX_NUM_FORMS", "1000"))}  # fmt: skip


def test_an_operator_adds_backends_and_deployments_in_the_admin_and_the_catalog_follows(
    db, redis_client, rkeys, django_capture_on_commit_callbacks
):
    from django.test import Client

    from accounts.models import User

    operator = User.objects.create_superuser(email="ops@ops.test", password=None)
    client = Client()
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(
            "/admin/inference/backend/add/",
            {"name": "gpu-9", "kind": "vllm", "base_url": "http://gpu-9:8000/v1", "host": "gpu-9", "gpu_ids": "0,1",
             "upstream_key_env": "VLLM_KEY", "probe": "on", "hourly_cost_usd": "2.50", "launch_args": "[]",
             "tensor_parallel_size": 2, "parallel": 4, "start_timeout_seconds": 120, "idle_ttl_seconds": 600,
             **inline_management("deployments"), **inline_management("health_checks")},
        )  # fmt: skip
        assert added.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", added.content.decode(), re.S)
        backend = Backend.objects.get(name="gpu-9")
        added = client.post(
            "/admin/inference/modeldeployment/add/",
            {"name": "big-1", "public_name": "big", "backend": backend.pk, "upstream_model": "meta/llama",
             "context_window": 32768, "max_concurrency": 8, "queue_timeout_seconds": 0,
             "routing_profile": "long_context", "input_price_per_mtok": "1.5", "output_price_per_mtok": "2",
             "max_output_tokens": 1024, "mode": "chat", "enabled": "on", **inline_management("windows")},
        )  # fmt: skip
        assert added.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", added.content.decode(), re.S)
    (big,) = published(redis_client, rkeys).models
    assert big.name == "big" and big.deployments[0].upstream_key_env == "VLLM_KEY"
    assert big.deployments[0].max_concurrency == 8
    for page in ("/admin/inference/backend/", f"/admin/inference/backend/{backend.pk}/change/",
                 "/admin/inference/modeldeployment/", "/admin/inference/modelalias/"):  # fmt: skip
        assert client.get(page).status_code == 200, page
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.post(
            f"/admin/inference/modeldeployment/{ModelDeployment.objects.get().pk}/delete/", {"post": "yes"}
        )
        assert deleted.status_code == 302
    assert published(redis_client, rkeys).models == ()
