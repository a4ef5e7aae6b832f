from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.services import deployment_delete
from llmaas.errors import ApplicationError


class Command(BaseCommand):
    help = "Delete a model deployment (its public model goes with its last deployment)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deployment")

    def handle(self, *args: Any, deployment: str, **options: Any) -> None:
        try:
            deployment_delete(name=deployment)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"deployment {deployment} deleted")
