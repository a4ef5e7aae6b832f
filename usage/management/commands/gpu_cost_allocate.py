from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from usage.gpu_cost import gpu_cost_allocate


class Command(BaseCommand):
    help = (
        "Give the calls of closed windows their GPU-seconds and internal cost (beat does it every "
        "LLMAAS_GPU_COST_SECONDS): up to --until, or now less --delay seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--until", default="", help="ISO 8601 time with its offset, e.g. 2026-12-05T12:00:00Z")
        parser.add_argument("--delay", type=int, default=None, help="seconds before now (default: the setting)")

    def handle(self, *args: Any, **o: Any) -> None:
        until = None
        if o["until"]:
            try:
                until = datetime.fromisoformat(o["until"])
            except ValueError:
                raise CommandError(f"not an ISO 8601 time: {o['until']!r}") from None
            if until.tzinfo is None:
                raise CommandError("--until needs its UTC offset (e.g. Z)")
        elif o["delay"] is not None:
            until = timezone.now() - timedelta(seconds=o["delay"])
        allocations = gpu_cost_allocate(until=until)
        calls = sum(a.calls for a in allocations)
        end = allocations[-1].end.isoformat() if allocations else "unchanged"
        self.stdout.write(f"GPU cost allocated to {calls} calls; watermark {end}")
