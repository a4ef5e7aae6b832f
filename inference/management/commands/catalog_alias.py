from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.services import alias_delete, alias_set
from llmaas.errors import ApplicationError


class Command(BaseCommand):
    help = "Give a public model another name clients may call it by (or --delete that name)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("alias")
        parser.add_argument("model", nargs="?", help="the public model name it stands for")
        parser.add_argument("--delete", action="store_true")

    def handle(self, *args: Any, alias: str, model: str | None, delete: bool, **options: Any) -> None:
        try:
            if delete:
                alias_delete(name=alias)
                self.stdout.write(f"alias {alias} deleted")
                return
            if not model:
                raise CommandError("name the model the alias stands for")
            alias_set(name=alias, public_name=model)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"alias {alias} → {model}")
