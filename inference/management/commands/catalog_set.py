from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from inference.lifecycle.cli import add_lifecycle_arguments, lifecycle_apply
from inference.models import Backend, ModelDeployment
from inference.services import deployment_set
from llmaas.errors import ApplicationError


def _price(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"not a price: {value!r}") from None


class Command(BaseCommand):
    help = (
        "Create or update a model deployment (operators also edit them in the admin). NAME is the "
        "public model name, and the deployment's own name unless --deployment gives another."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--deployment", default="", help="the deployment's own name (default: NAME)")
        parser.add_argument("--backend-url", required=True)
        parser.add_argument("--backend-kind", default=Backend.Kind.OPENAI_COMPATIBLE, choices=Backend.Kind.values)
        parser.add_argument("--upstream-model", required=True)
        parser.add_argument("--context-window", type=int, required=True)
        parser.add_argument("--input-price", default="0", help="USD per million input tokens")
        parser.add_argument("--output-price", default="0", help="USD per million output tokens")
        parser.add_argument("--max-output-tokens", type=int, default=1024)
        parser.add_argument("--max-concurrency", type=int, default=None, help="requests in flight at most")
        parser.add_argument(
            "--queue-timeout", type=int, default=0, help="seconds a call waits for a slot when all are taken (0: 503)"
        )
        parser.add_argument(
            "--profile", default=ModelDeployment.Profile.THROUGHPUT, choices=ModelDeployment.Profile.values
        )
        parser.add_argument("--mode", default=ModelDeployment.Mode.CHAT, choices=ModelDeployment.Mode.values)
        parser.add_argument("--digest", default="", help="weights digest or quantization")
        parser.add_argument("--upstream-key-env", default="", help="env var holding the backend's API key")
        parser.add_argument("--inactive", action="store_true", help="disabled: never served")
        parser.add_argument("--no-probe", action="store_true", help="never probe the backend's health")
        add_lifecycle_arguments(parser)

    @transaction.atomic  # a placement or schedule refused leaves nothing half set
    def handle(self, *args: Any, **o: Any) -> None:
        try:
            deployment = deployment_set(
                name=o["deployment"] or o["name"],
                public_name=o["name"],
                backend_url=o["backend_url"],
                backend_kind=o["backend_kind"],
                backend_probe=False if o["no_probe"] else None,
                upstream_key_env=o["upstream_key_env"],
                upstream_model=o["upstream_model"],
                context_window=o["context_window"],
                input_price_per_mtok=_price(o["input_price"]),
                output_price_per_mtok=_price(o["output_price"]),
                max_output_tokens=o["max_output_tokens"],
                max_concurrency=o["max_concurrency"],
                queue_timeout_seconds=o["queue_timeout"],
                routing_profile=o["profile"],
                mode=o["mode"],
                digest=o["digest"],
                enabled=not o["inactive"],
            )
            lifecycle_apply(deployment, o)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"model {deployment.public_name} ({deployment.name}) → {deployment.backend.base_url} "
            f"({deployment.upstream_model})"
        )
