"""Operators' admin for the authorization server's side tables."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey
from django.http import HttpRequest

from accounts.models import Organization
from llmaas.adminsite import AuditedAdmin, CappedCountPaginator, IndexedSearchAdmin
from oauth.models import SsoGroupMapping, SsoIdentity


# --- enterprise SSO (oauth/sso.py) ---------------------------------------------------------------
@admin.register(SsoGroupMapping)
class SsoGroupMappingAdmin(AuditedAdmin, IndexedSearchAdmin):
    """Upstream group → role in an organization, re-applied at each SSO login: in an organization
    with at least one mapping, SSO users get the highest mapped role of their groups and lose
    their membership when no group maps there any more (the last owner stays)."""

    list_display = ("group", "organization", "role", "created_at")
    fields = ("group", "organization", "role")
    list_filter = ("role",)
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    search_prefix_fields = ("group",)
    search_uuid_fields = ("organization_id",)
    search_help_text = "A group name prefix, or an organization id."
    ordering = ("group", "organization__name")

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "organization":  # a personal organization has no other members
            kwargs["queryset"] = Organization.objects.filter(personal_for__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(SsoIdentity)
class SsoIdentityAdmin(AuditedAdmin, IndexedSearchAdmin):
    """Upstream accounts linked to local users (made by SSO logins; delete one to unlink it)."""

    list_display = ("subject", "issuer", "user", "last_login_at")
    list_select_related = ("user",)
    search_prefix_fields = ("user__email",)
    search_uuid_fields = ("user_id",)
    search_lowercase = True
    search_help_text = "A user's email prefix, or a user id."
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("issuer", "subject", "user", "groups", "created_at", "last_login_at")
    ordering = ("-id",)  # the primary key's index: no sort of the whole table

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
