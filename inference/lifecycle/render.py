"""The placement of managed backends rendered for container platforms (``manage.py fleet_render``):
the same launch spec (launch.py) as the fleet agent runs on a host, as

- **compose** services under the ``gpu`` profile, each reserving its GPU ids
  (``deploy.resources.reservations.devices``, driver nvidia);
- **Kubernetes** Deployments + Services: ``nvidia.com/gpu`` requests and limits of its GPU count,
  the host's node selector (``GpuHost.node_selector``, else ``kubernetes.io/hostname``) and the GPU
  taint's toleration.

Inside a container the runtime exposes exactly the reserved GPUs, renumbered from 0, so the host's
``CUDA_VISIBLE_DEVICES`` is not carried over; the server binds 0.0.0.0 on the port of the backend's
URL. On Kubernetes the device plugin picks which GPUs of the node: ids are a host-level placement.
These are always-on workloads: on-demand start and idle stop are the agent's, on a host.
"""

from __future__ import annotations

from typing import Any

from inference.lifecycle.launch import launch_spec, server_root
from inference.models import Backend, GpuHost

IMAGES = {
    Backend.Kind.LLAMACPP: "ghcr.io/ggml-org/llama.cpp:server-cuda",
    Backend.Kind.VLLM: "vllm/vllm-openai:v0.8.5",
    Backend.Kind.SGLANG: "lmsysorg/sglang:latest",
}
# How many leading words of the launch command the image's entrypoint replaces.
ENTRYPOINTS = {
    Backend.Kind.LLAMACPP: ["/app/llama-server"],
    Backend.Kind.VLLM: ["vllm", "serve"],
    Backend.Kind.SGLANG: ["python3", "-m", "sglang.launch_server"],
}
ENTRYPOINT_WORDS = {Backend.Kind.LLAMACPP: 1, Backend.Kind.VLLM: 2, Backend.Kind.SGLANG: 3}


def _container_args(backend: Backend, host: GpuHost | None) -> list[str]:
    argv = list(launch_spec(backend, host).argv)[ENTRYPOINT_WORDS[Backend.Kind(backend.kind)] :]
    if "--host" in argv:
        argv[argv.index("--host") + 1] = "0.0.0.0"  # noqa: S104 - inside its container, behind the platform's network
    return argv


def _port(backend: Backend) -> int:
    return server_root(backend.base_url)[2]


def service_name(backend: Backend) -> str:
    return f"backend-{backend.name}".lower().replace("_", "-").replace(".", "-").replace(":", "-")


def compose_services(backends: list[Backend], hosts: dict[str, GpuHost]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for b in backends:
        port = _port(b)
        service: dict[str, Any] = {
            "image": IMAGES[Backend.Kind(b.kind)],
            "profiles": ["gpu"],
            "restart": "unless-stopped",
            "entrypoint": ENTRYPOINTS[Backend.Kind(b.kind)],
            "command": _container_args(b, hosts.get(b.host)),
            "ipc": "host",
            "healthcheck": {"test": ["CMD", "curl", "-fsS", f"http://127.0.0.1:{port}/health"], "interval": "15s"},
        }
        if b.gpus:
            device = {"driver": "nvidia", "device_ids": [str(g) for g in b.gpus], "capabilities": ["gpu"]}
            service["deploy"] = {"resources": {"reservations": {"devices": [device]}}}
        services[service_name(b)] = service
    return {"services": services}


def k8s_manifests(backends: list[Backend], hosts: dict[str, GpuHost], namespace: str = "llmaas") -> list[Any]:
    docs: list[Any] = []
    for b in backends:
        name, port = service_name(b), _port(b)
        host = hosts.get(b.host)
        selector = dict(host.node_selector) if host and host.node_selector else {}
        if not selector and b.host:
            selector = {"kubernetes.io/hostname": b.host}
        gpus = len(b.gpus)
        labels = {"app.kubernetes.io/name": name, "llmaas.io/role": "backend"}
        probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10}
        container: dict[str, Any] = {
            "name": "server",
            "image": IMAGES[Backend.Kind(b.kind)],
            "command": ENTRYPOINTS[Backend.Kind(b.kind)],
            "args": _container_args(b, host),
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": probe,
            "startupProbe": {**probe, "failureThreshold": max(1, b.start_timeout_seconds // 10)},
        }
        pod: dict[str, Any] = {"automountServiceAccountToken": False, "containers": [container]}
        if gpus:
            container["resources"] = {"requests": {"nvidia.com/gpu": gpus}, "limits": {"nvidia.com/gpu": gpus}}
            pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        if selector:
            pod["nodeSelector"] = selector
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                },
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "selector": {"app.kubernetes.io/name": name},
                    "ports": [{"name": "http", "port": port, "targetPort": "http"}],
                },
            }
        )
    return docs
