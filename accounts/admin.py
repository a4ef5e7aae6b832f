from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from accounts.models import Membership, Organization, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "personal_for", "created_at")
    search_fields = ("name", "=id")
    inlines = [MembershipInline]
    raw_id_fields = ("personal_for",)

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        from keys.services import publish_organization_on_commit, rebuild_spend_on_commit

        super().save_model(request, obj, form, change)
        publish_organization_on_commit(obj.id)  # limits, zone, models reach every key's snapshot
        rebuild_spend_on_commit()
