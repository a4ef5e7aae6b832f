"""Placement (placement.py through Backend.clean): GPUs exist, the tensor-parallel size matches
them, and no GPU's memory is overcommitted; the launch command carries the GPUs (launch.py)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from inference.lifecycle.launch import LaunchError, launch_spec, looks_like_oom
from inference.models import AvailabilityWindow, Backend, GpuHost, ModelDeployment
from inference.tests.test_catalog import inline_management

pytestmark = pytest.mark.django_db


@pytest.fixture
def h100s():
    return GpuHost.objects.create(name="gpu-1", gpu_count=4, gpu_memory_gib=Decimal("80"))


def backend(name: str, gpu_ids: str, **fields) -> Backend:
    fields = {
        "kind": Backend.Kind.VLLM,
        "base_url": f"http://gpu-1:{8000 + len(name)}/v1",
        "host": "gpu-1",
        "managed": True,
        "launch_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "tensor_parallel_size": len(gpu_ids.split(",")) if gpu_ids else 1,
        **fields,
    }
    return Backend(name=name, gpu_ids=gpu_ids, **fields)


def saved(b: Backend) -> Backend:
    b.full_clean()
    b.save()
    return b


def test_it_refuses_two_backends_overcommitting_a_gpus_memory(h100s):
    saved(backend("big", "0,1", gpu_memory_fraction=Decimal("0.6")))  # 48 GiB on GPUs 0 and 1
    saved(backend("small", "1", gpu_memory_gib=Decimal("30")))  # GPU 1: 78 of 80
    with pytest.raises(ValidationError) as caught:
        backend("third", "1", gpu_memory_gib=Decimal("4")).full_clean()
    message = caught.value.message_dict["gpu_ids"][0]
    assert "GPU 1 of gpu-1 would be overcommitted" in message
    assert "it has 80 GiB, big (48 GiB), small (30 GiB) already take 78 GiB, this backend asks for 4 GiB" in message
    saved(backend("third", "2", gpu_memory_gib=Decimal("4")))  # another GPU is free


def test_a_backend_pinned_without_a_share_takes_the_whole_gpu(h100s):
    saved(backend("whole", "3"))
    with pytest.raises(ValidationError, match="GPU 3 of gpu-1 would be overcommitted"):
        backend("more", "3", gpu_memory_gib=Decimal("1")).full_clean()


def test_an_edit_is_checked_without_counting_the_backend_twice(h100s):
    b = saved(backend("big", "0", gpu_memory_fraction=Decimal("0.9")))
    b.gpu_memory_fraction = Decimal("1")
    b.full_clean()  # its own old claim is not counted against it


def test_it_refuses_missing_gpus_a_wrong_tensor_parallel_size_and_a_share_larger_than_a_gpu(h100s):
    with pytest.raises(ValidationError, match="has 4 GPU"):
        backend("b", "4").full_clean()
    with pytest.raises(ValidationError, match="tensor-parallel size of 2 takes 2"):
        backend("b", "0", tensor_parallel_size=2).full_clean()
    with pytest.raises(ValidationError, match="more than a GPU of gpu-1 has"):
        backend("b", "0", gpu_memory_gib=Decimal("81")).full_clean()
    with pytest.raises(ValidationError, match="not both"):
        backend("b", "0", gpu_memory_gib=Decimal("8"), gpu_memory_fraction=Decimal("0.1")).full_clean()


def test_managed_needs_a_launchable_kind_a_model_and_a_known_host_for_memory():
    with pytest.raises(ValidationError, match="not launched by the fleet agent"):
        backend("o", "", kind=Backend.Kind.OLLAMA, host="").full_clean()
    with pytest.raises(ValidationError, match="needs the model"):
        backend("l", "", launch_model="", host="").full_clean()
    with pytest.raises(ValidationError, match="Register this host"):
        backend("v", "0", host="unknown-host", gpu_memory_fraction=Decimal("0.5")).full_clean()


def test_the_launch_command_carries_gpus_tensor_parallel_memory_and_concurrency(h100s):
    b = saved(backend("tp", "2,3", gpu_memory_gib=Decimal("40"), parallel=8, launch_args=["--dtype", "half"]))
    spec = launch_spec(b, h100s)
    assert spec.cuda_visible_devices == "2,3"
    argv = list(spec.argv)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.500"
    assert argv[argv.index("--max-num-seqs") + 1] == "8"
    assert argv[-2:] == ["--dtype", "half"]
    assert spec.health_url == "http://gpu-1:8002/health"
    b.kind = Backend.Kind.SGLANG
    argv = list(launch_spec(b, h100s, parallel=2).argv)
    assert argv[1:3] == ["-m", "sglang.launch_server"]
    assert argv[argv.index("--tp-size") + 1] == "2" and argv[argv.index("--max-running-requests") + 1] == "2"
    assert argv[argv.index("--mem-fraction-static") + 1] == "0.500"
    b.kind, b.gpu_ids = Backend.Kind.LLAMACPP, ""
    spec = launch_spec(b, None)
    assert spec.cuda_visible_devices == ""  # no GPU listed: none visible
    assert "--parallel" in spec.argv and "--metrics" in spec.argv
    b.kind = Backend.Kind.OLLAMA
    with pytest.raises(LaunchError):
        launch_spec(b, None)


def test_it_recognises_gpu_out_of_memory_in_a_processs_output():
    assert looks_like_oom("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert looks_like_oom("ggml_cuda_init: ... cudaMalloc failed: out of memory")
    assert not looks_like_oom("error: failed to open GGUF file")


def test_the_admin_refuses_an_overcommit_and_edits_windows_and_gpu_hosts(h100s, redis_client):
    saved(backend("big", "0", gpu_memory_gib=Decimal("60")))
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@ops.test", password=None))
    form = {
        "name": "more", "kind": "vllm", "base_url": "http://gpu-1:8100/v1", "host": "gpu-1", "gpu_ids": "0",
        "gpu_memory_gib": "30", "tensor_parallel_size": 1, "managed": "on", "launch_model": "m", "probe": "on",
        "launch_args": "[]", "parallel": 4, "start_timeout_seconds": 120, "idle_ttl_seconds": 600,
        "hourly_cost_usd": "0",  # the GPU-cost field beside (ignored where it is absent)
        **inline_management("deployments"), **inline_management("health_checks"),
    }  # fmt: skip
    refused = client.post("/admin/inference/backend/add/", form)
    assert refused.status_code == 200
    assert "GPU 0 of gpu-1 would be overcommitted" in refused.content.decode()
    assert not Backend.objects.filter(name="more").exists()
    assert client.post("/admin/inference/backend/add/", {**form, "gpu_memory_gib": "20"}).status_code == 302

    deployment = ModelDeployment.objects.create(
        name="night", public_name="night", backend=Backend.objects.get(name="more"), upstream_model="m",
        context_window=512,
    )  # fmt: skip
    page = f"/admin/inference/modeldeployment/{deployment.pk}/change/"
    assert client.get(page).status_code == 200
    change = {
        "name": "night", "public_name": "night", "backend": deployment.backend_id, "upstream_model": "m",
        "context_window": 512, "queue_timeout_seconds": 0, "routing_profile": "throughput",
        "input_price_per_mtok": "0", "output_price_per_mtok": "0", "max_output_tokens": 1024, "mode": "chat",
        "enabled": "on", "availability_override": "", "windows-TOTAL_FORMS": "1", "windows-INITIAL_FORMS": "0",
        "windows-MIN_NUM_FORMS": "0", "windows-MAX_NUM_FORMS": "1000", "windows-0-days": "someday",
        "windows-0-start": "22:00", "windows-0-end": "06:00",
    }  # fmt: skip
    refused = client.post(page, change)
    assert refused.status_code == 200 and "is not a list of days" in refused.content.decode()
    assert client.post(page, {**change, "windows-0-days": "mon-fri"}).status_code == 302
    assert [str(w) for w in AvailabilityWindow.objects.filter(deployment=deployment)] == ["mon-fri 22:00-06:00"]
    assert client.get("/admin/inference/gpuhost/").status_code == 200


def test_placement_renders_to_compose_device_reservations_and_k8s_gpu_limits_and_node_selectors(h100s):
    h100s.node_selector = {"gpu": "h100"}
    h100s.save()
    saved(backend("qwen-72b", "0,1", gpu_memory_fraction=Decimal("0.9"), parallel=64))
    saved(backend("small", "2", kind=Backend.Kind.LLAMACPP, launch_model="/models/smollm2.gguf", host="gpu-2"))
    out = io.StringIO()
    call_command("fleet_render", "--format", "compose", stdout=out)
    services = yaml.safe_load(out.getvalue())["services"]
    qwen = services["backend-qwen-72b"]
    assert qwen["profiles"] == ["gpu"] and qwen["entrypoint"] == ["vllm", "serve"]
    assert qwen["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "device_ids": ["0", "1"], "capabilities": ["gpu"]}
    ]
    args = qwen["command"]
    assert args[0] == "Qwen/Qwen2.5-0.5B-Instruct" and args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.900"
    assert "CUDA_VISIBLE_DEVICES" not in str(qwen)  # the runtime exposes exactly the reserved GPUs
    assert services["backend-small"]["command"][:2] == ["-m", "/models/smollm2.gguf"]

    out = io.StringIO()
    call_command("fleet_render", "--format", "k8s", stdout=out)
    docs = list(yaml.safe_load_all(out.getvalue()))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "backend-qwen-72b"), ("Service", "backend-qwen-72b"),
        ("Deployment", "backend-small"), ("Service", "backend-small"),
    ]  # fmt: skip
    pod = docs[0]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 2}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert docs[1]["spec"]["ports"][0]["port"] == 8008  # the backend URL's port
    small = docs[2]["spec"]["template"]["spec"]
    assert small["nodeSelector"] == {"kubernetes.io/hostname": "gpu-2"}  # an unregistered host: by name
    assert small["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}
