from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import OrganizationAdmin
from accounts.models import User
from keys.models import ApiKey
from keys.services import BUDGET_FIELDS, budgets_rebuild_on_commit, key_revoke, publish_key_on_commit
from llmaas.adminsite import AuditedAdmin, CappedCountPaginator, IndexedSearchAdmin, null_filter

# An organization's keys go with it (its deletion withdraws them from the proxy), though
# operators may not delete keys one by one.
OrganizationAdmin.deleted_with_organization.add(str(ApiKey._meta.verbose_name))

KeyStatusFilter = null_filter("status", "status", "revoked_at", ("active", "Active"), ("revoked", "Revoked"))


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin, IndexedSearchAdmin):
    list_display = (
        "prefix",
        "name",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "playground",
    )
    list_filter = (KeyStatusFilter, "playground")
    # A key's prefix (indexed with varchar_pattern_ops), or the id of a key, organization or creator.
    search_prefix_fields = ("prefix",)
    search_uuid_fields = ("pk", "organization_id", "created_by_id")
    search_help_text = "A key prefix (sk-…), or the id of a key, an organization or a user."
    ordering = ("-created_at",)
    list_select_related = ("organization", "created_by")
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("id", "prefix", "secret_hash", "created_at", "last_used_at", "revoked_at", "revoked_by")
    raw_id_fields = ("organization", "created_by")
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        self.save_changed(obj, form)  # a revocation or rotation since the form was read stays
        publish_key_on_commit(obj.id)  # limits, models, expiry: the proxy sees them at once
        if any(name in form.changed_data for name in BUDGET_FIELDS):
            budgets_rebuild_on_commit([("key", obj.id)])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued through the API, which shows the secret once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: a deleted row would leave its snapshot at the proxy

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        by = request.user if isinstance(request.user, User) else None
        keys = list(queryset)
        for key in keys:
            key_revoke(key=key, by=by)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)
