"""What every ModelAdmin of ours shares: the audit trail of operators' changes, and searches
that an index can answer (a prefix, or an exact id; never ``LIKE '%term%'``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from audit.models import AuditAction
from audit.services import audit_record


def _actor(request: HttpRequest) -> Any:
    return request.user if getattr(request.user, "is_authenticated", False) else None


class AuditedAdmin(admin.ModelAdmin):
    """Operators' adds, changes and deletions go to the audit trail too (with IP and user agent),
    under the organization they concern, so the organization's admins see them."""

    def audit_org_id(self, obj: Model) -> Any:
        return getattr(obj, "organization_id", None)

    def _audit(self, request: HttpRequest, action: AuditAction, obj: Model, message: Any) -> None:
        try:
            change = json.loads(message) if isinstance(message, str) and message else message
        except ValueError:
            change = message
        audit_record(
            action=action,
            actor=_actor(request),
            org_id=self.audit_org_id(obj),
            target=obj,
            details={"object": str(obj)[:200], "change": change or []},
        )

    @staticmethod
    def save_changed(obj: Model, form: Any, *, skip: tuple[str, ...] = ()) -> list[str]:
        """Save only the columns the operator changed (not many-to-many ones, which the form saves
        itself): a change committed since the form was read (a revocation, a deactivation, another
        operator's edit) is never written back. Returns the columns saved."""
        concrete = {f.name for f in obj._meta.concrete_fields}
        columns = [name for name in form.changed_data if name in concrete and name not in skip]
        if columns:
            obj.save(update_fields=columns)
        return columns

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, AuditAction.ADMIN_ADDED, obj, message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, AuditAction.ADMIN_CHANGED, obj, message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, AuditAction.ADMIN_DELETED, obj, None)
        return super().log_deletions(request, queryset)


class IndexedSearchAdmin(admin.ModelAdmin):
    """Search by ``search_prefix_fields`` (``LIKE 'term%'``, answered by a pattern-ops index; an
    entry may name its lookup, e.g. ``name__istartswith`` for an ``UPPER(name)`` index) or, when
    the term is a UUID, by ``search_uuid_fields`` (exact)."""

    search_prefix_fields: tuple[str, ...] = ()
    search_uuid_fields: tuple[str, ...] = ("pk",)
    search_lowercase = False  # the column is stored lower-case (emails)
    search_help_text = "A prefix, or an exact id."

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return self.search_prefix_fields or self.search_uuid_fields  # shows the search box

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            value = None
        if value is not None:
            exact: list[Any] = [(f, str(value)) for f in self.search_uuid_fields]
            return queryset.filter(Q.create(exact, connector=Q.OR)), False
        if self.search_lowercase:
            term = term.lower()
        lookups: list[Any] = [
            (f if f.endswith("startswith") else f"{f}__startswith", term) for f in self.search_prefix_fields
        ]
        if not lookups:
            return queryset.none(), False
        return queryset.filter(Q.create(lookups, connector=Q.OR)), False


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows: a changelist page of a 100k-row table does not count them all
    (past the cap, the admin shows the cap as the total and the last pages are not offered)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list[: self.CAP].count()
        return len(object_list)


def null_filter(
    title: str, parameter: str, field: str, when_null: tuple[str, str], when_set: tuple[str, str]
) -> type[admin.SimpleListFilter]:
    """A list filter on whether ``field`` is null (served by an index or a partial one):
    ``when_null``/``when_set`` are (value, label), e.g. ("active", "Active") for revoked_at."""

    class NullFilter(admin.SimpleListFilter):
        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [when_null, when_set]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            if self.value() in (when_null[0], when_set[0]):
                return queryset.filter(**{f"{field}__isnull": self.value() == when_null[0]})
            return queryset

    NullFilter.title, NullFilter.parameter_name = title, parameter
    return NullFilter
