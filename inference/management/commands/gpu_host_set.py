import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.lifecycle.services import gpu_host_set
from llmaas.errors import ApplicationError


class Command(BaseCommand):
    help = "Register a GPU host (or change it) for placement: its GPU count and each GPU's memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the host name backends give as their host")
        parser.add_argument("--gpus", type=int, required=True, help="how many GPUs (ids 0 to N-1)")
        parser.add_argument("--memory-gib", required=True, help="memory of each GPU, GiB (e.g. 80)")
        parser.add_argument("--node-selector", default="{}", help='Kubernetes node labels, JSON: {"gpu": "h100"}')

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            memory = Decimal(o["memory_gib"])
            selector = json.loads(o["node_selector"])
        except (InvalidOperation, ValueError):
            raise CommandError("--memory-gib takes a number and --node-selector a JSON object") from None
        if not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values()):
            raise CommandError("--node-selector takes a JSON object of string labels")
        try:
            host = gpu_host_set(name=o["name"], gpu_count=o["gpus"], gpu_memory_gib=memory, node_selector=selector)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"GPU host {host}")
