from typing import Any

from django.core.management.base import BaseCommand

from keys.publishing import snapshot_publish_all


class Command(BaseCommand):
    help = "Publish every active key and the model catalog to Redis (a full, idempotent rebuild)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = snapshot_publish_all()
        self.stdout.write(f"published {count} keys and the catalog")
