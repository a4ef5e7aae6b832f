from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from inference.models import ServedModel
from inference.publishing import catalog_publish


def _price(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"not a price: {value!r}") from None


class Command(BaseCommand):
    help = "Create or update a catalog model (operators also edit them in the admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--backend-url", required=True)
        parser.add_argument("--upstream-model", required=True)
        parser.add_argument("--context-window", type=int, required=True)
        parser.add_argument("--input-price", default="0", help="USD per million input tokens")
        parser.add_argument("--output-price", default="0", help="USD per million output tokens")
        parser.add_argument("--upstream-key-env", default="", help="env var holding the backend's API key")
        parser.add_argument("--inactive", action="store_true")

    def handle(self, *args: Any, **o: Any) -> None:
        model = ServedModel.objects.filter(name=o["name"]).first() or ServedModel(name=o["name"])
        model.backend_url = o["backend_url"]
        model.upstream_model = o["upstream_model"]
        model.context_window = o["context_window"]
        model.input_price_per_mtok = _price(o["input_price"])
        model.output_price_per_mtok = _price(o["output_price"])
        model.upstream_key_env = o["upstream_key_env"]
        model.is_active = not o["inactive"]
        try:
            model.full_clean()
        except ValidationError as exc:
            raise CommandError(f"invalid model: {exc.message_dict}") from None
        with transaction.atomic():
            model.save()
            transaction.on_commit(catalog_publish)
        self.stdout.write(f"model {model.name} → {model.backend_url} ({model.upstream_model})")
