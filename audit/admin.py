from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from llmaas.adminsite import CappedCountPaginator, IndexedSearchAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(IndexedSearchAdmin):
    """Read-only: the trail is written by the code, never edited."""

    list_display = ("created_at", "action", "actor_email", "org_id", "target_type", "target_id", "ip")
    list_filter = ("action",)
    search_prefix_fields = ("actor_email",)
    search_uuid_fields = ("org_id", "actor_id", "target_id")
    search_lowercase = True
    search_help_text = "An actor's email prefix, or the id of an organization, an actor or a target."
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
