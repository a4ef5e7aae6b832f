from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from inference.models import ServedModel
from inference.publishing import catalog_publish


@admin.register(ServedModel)
class ServedModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "upstream_model",
        "backend_url",
        "context_window",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "upstream_model")

    def save_model(self, request: HttpRequest, obj: ServedModel, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(catalog_publish)
