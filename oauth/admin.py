"""Operators' admin for the authorization server's side tables."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import ForeignKey, Model, QuerySet, URLField
from django.http import HttpRequest
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.models import AccessToken, Application, RefreshToken

from accounts.models import Organization, User
from llmaas.adminsite import AuditedAdmin, CappedCountPaginator, IndexedSearchAdmin
from oauth.models import OAuthApp, SsoGroupMapping, SsoIdentity
from oauth.services import app_credentials_revoke


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


# --- OAuth applications (DOT's admin, with the owner organization beside it) --------------------
class OAuthAppInline(admin.StackedInline):
    """Which organization a third-party app belongs to (apps registered through the API have one;
    first-party clients such as the portal have none)."""

    model = OAuthApp
    fields = ("organization", "created_by", "logo_url", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("organization", "created_by")
    can_delete = False
    extra = 0
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


def _operator(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


admin.site.unregister(Application)


@admin.register(Application)
class ApplicationAdmin(AuditedAdmin, DotApplicationAdmin):
    """DOT's application admin, audited, with the owner organization; deleting an app revokes the
    inference keys issued to it and every user's tokens first (as the API does)."""

    inlines = (OAuthAppInline,)
    list_display = ("name", "client_id", "organization", "client_type", "skip_authorization", "created")
    list_select_related = ("llmaas_app__organization",)

    @admin.display(description="organization", ordering="llmaas_app__organization__name")
    def organization(self, obj: Application) -> object:
        try:
            return obj.llmaas_app.organization  # joined by list_select_related
        except OAuthApp.DoesNotExist:
            return "—"

    def audit_org_id(self, obj: Model) -> Any:
        return OAuthApp.objects.filter(application_id=obj.pk).values_list("organization_id", flat=True).first()

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """DOT's token admins refuse deletion (revoke instead), which would forbid deleting any app
        with a token; here its tokens are revoked first (deny-listed), then deleted with it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        tokens = {str(model._meta.verbose_name) for model in (AccessToken, RefreshToken)}
        return deleted, counts, {p for p in perms_needed if str(p) not in tokens}, protected

    def delete_model(self, request: HttpRequest, obj: Application) -> None:
        with transaction.atomic():
            app_credentials_revoke(application=obj, by=_operator(request))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        with transaction.atomic():
            for application in queryset:
                app_credentials_revoke(application=application, by=_operator(request))
            super().delete_queryset(request, queryset)
