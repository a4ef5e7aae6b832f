import sys
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from inference.drivers import DriverError, OllamaDriver
from inference.drivers.ollama import PullProgress
from inference.models import ModelDeployment
from inference.pulls import deployment_pull
from llmaas.errors import ApplicationError

KEEP_ALIVE_TIMEOUT = 300.0  # seconds: loading a large model into GPU memory takes a while


class Command(BaseCommand):
    help = (
        "Pull a deployment's model onto its Ollama backend, showing the progress, and check the "
        "digest (or quantization) the deployment pins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deployment", help="the deployment's name")
        parser.add_argument(
            "--keep-alive", default="", help="then load it and keep it loaded this long (e.g. 30m; -1: for ever)"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        deployment = ModelDeployment.objects.select_related("backend").filter(name=o["deployment"]).first()
        if deployment is None:
            raise CommandError(f"no deployment named {o['deployment']!r}")
        bars: dict[str, tqdm[Any]] = {}
        status = ""

        def show(progress: PullProgress) -> None:
            nonlocal status
            if progress.total and progress.digest:
                bar = bars.get(progress.digest)
                if bar is None:
                    bar = bars[progress.digest] = tqdm(
                        total=progress.total, desc=progress.digest[:19], unit="B", unit_scale=True, file=sys.stderr
                    )
                bar.update((progress.completed or 0) - bar.n)
            elif progress.status != status:
                self.stdout.write(progress.status)
            status = progress.status

        try:
            pulled = deployment_pull(deployment=deployment, on_progress=show)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(f"pulled {pulled.name} digest {pulled.digest[:12]} quantization {pulled.quantization}")
        if o["keep_alive"]:
            duration = int(o["keep_alive"]) if o["keep_alive"].lstrip("-").isdigit() else o["keep_alive"]
            try:
                OllamaDriver(deployment.backend).keep_alive(pulled.name, duration, timeout=KEEP_ALIVE_TIMEOUT)
            except (DriverError, httpx.HTTPError) as exc:
                raise CommandError(f"loading {pulled.name} failed: {exc}") from None
            self.stdout.write(f"loaded {pulled.name}, kept alive {o['keep_alive']}")
