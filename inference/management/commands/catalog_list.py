from typing import Any

from django.core.management.base import BaseCommand

from inference.models import Backend, ModelAlias, ModelDeployment


class Command(BaseCommand):
    help = "List backends (with health), model deployments and aliases."

    def handle(self, *args: Any, **options: Any) -> None:
        for b in Backend.objects.order_by("name"):
            probe = "" if b.probe else " (not probed)"
            self.stdout.write(f"backend {b.name} [{b.kind}] {b.base_url} gpus={b.gpu_ids or '-'} {b.health}{probe}")
        for d in ModelDeployment.objects.select_related("backend").order_by("public_name", "name"):
            state = "enabled" if d.enabled else "disabled"
            limit = d.max_concurrency if d.max_concurrency is not None else "unlimited"
            self.stdout.write(
                f"model {d.public_name} deployment {d.name} on {d.backend.name}: {d.mode}, {d.routing_profile}, "
                f"window {d.context_window}, concurrency {limit}, ${d.input_price_per_mtok}/${d.output_price_per_mtok} "
                f"per M tokens, {state}"
            )
        for a in ModelAlias.objects.order_by("name"):
            self.stdout.write(f"alias {a.name} → {a.public_name}")
