from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from inference.config_render import render_litellm_config
from inference.models import ModelDeployment


class Command(BaseCommand):
    help = "Render the active model catalog into LiteLLM's proxy config."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "litellm" / "config.yaml"))

    def handle(self, *args: Any, output: str, **options: Any) -> None:
        text = render_litellm_config(
            ModelDeployment.objects.filter(enabled=True).select_related("backend").order_by("public_name", "name")
        )
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.read_text() == text:
            self.stdout.write(f"{path} is up to date")
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        self.stdout.write(f"wrote {path}")
