from typing import Any

from django.core.management.base import BaseCommand

from inference.health import backends_probe


class Command(BaseCommand):
    help = "Probe every backend now (beat does it every LLMAAS_HEALTH_PROBE_SECONDS) and print their health."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, ok in sorted(backends_probe().items()):
            self.stdout.write(f"{name}: {'healthy' if ok else 'unhealthy'}")
