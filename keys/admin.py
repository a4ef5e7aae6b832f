from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from keys.models import ApiKey
from keys.services import key_revoke, publish_key_on_commit, rebuild_spend_on_commit


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "organization", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix__startswith", "name")
    list_select_related = ("organization", "created_by")
    readonly_fields = ("id", "prefix", "secret_hash", "created_at", "last_used_at", "revoked_at", "revoked_by")
    raw_id_fields = ("organization", "created_by")
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        publish_key_on_commit(obj.id)  # limits, models, expiry: the proxy sees them at once
        rebuild_spend_on_commit()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued through the API, which shows the secret once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        by = request.user if isinstance(request.user, User) else None
        for key in queryset:
            key_revoke(key=key, by=by)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
