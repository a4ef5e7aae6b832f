from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandParser

from inference.lifecycle.render import compose_services, k8s_manifests
from inference.models import Backend, GpuHost


class Command(BaseCommand):
    help = (
        "Print the managed backends' placement for a container platform: compose services (GPU profile, device "
        "reservations by id) or Kubernetes Deployments and Services (nvidia.com/gpu limits, node selectors)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["compose", "k8s"], default="compose")
        parser.add_argument("--namespace", default="llmaas", help="Kubernetes namespace")

    def handle(self, *args: Any, **o: Any) -> None:
        backends = list(Backend.objects.filter(managed=True).prefetch_related("deployments").order_by("name"))
        hosts = {h.name: h for h in GpuHost.objects.all()}
        if o["format"] == "compose":
            self.stdout.write(yaml.safe_dump(compose_services(backends, hosts), sort_keys=False))
        else:
            self.stdout.write(yaml.safe_dump_all(k8s_manifests(backends, hosts, o["namespace"]), sort_keys=False))
