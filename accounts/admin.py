"""Operators' admin for users (approve, deactivate, reactivate) and organizations (with members).

Lists search by prefix or exact id and filter on indexed columns, so they stay fast on large
tables; every change goes to the audit trail.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from accounts.models import Membership, Organization, User
from accounts.roles import Role
from accounts.services import organization_delete_now
from accounts.signals import organization_changed
from accounts.user_services import user_approve, user_set_active
from llmaas.adminsite import AuditedAdmin, CappedCountPaginator, IndexedSearchAdmin, null_filter


def _operator(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


ApprovalFilter = null_filter("approval", "approval", "approved_at", ("pending", "Pending"), ("approved", "Approved"))
PersonalFilter = null_filter("kind", "kind", "personal_for", ("team", "Team"), ("personal", "Personal"))


class UserAddForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email=email).exists():
            raise ValidationError("A user with this email already exists.")
        return email


@admin.register(User)
class UserAdmin(AuditedAdmin, IndexedSearchAdmin, BaseUserAdmin):
    add_form = UserAddForm
    ordering = ("email",)
    list_display = ("email", "name", "account_status", "is_active", "is_staff", "date_joined")
    list_filter = (ApprovalFilter, "is_active", "is_staff")
    search_prefix_fields = ("email",)
    search_lowercase = True
    search_help_text = "An email prefix, or a user id."
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("approved_at", "approved_by", "email_verified_at", "last_login", "date_joined")
    list_select_related = ("approved_by",)
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Status", {"fields": ("is_active", "approved_at", "approved_by", "email_verified_at")}),
        ("Operator", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    actions = ["approve_users", "deactivate_users", "reactivate_users"]

    @admin.display(description="status")
    def account_status(self, user: User) -> str:
        return user.account_status if user.is_active else "deactivated"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: keys, usage and the audit trail refer to users

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:  # an operator's account: approved and verified, with its personal organization
            User.objects.add(obj, approved_by=_operator(request))
            return
        # The other changed fields first, then the service flips is_active: it audits the change
        # and withdraws (or republishes) the user's personal keys at the proxy. Never a full save:
        # a deactivation or approval since the form was read stays.
        self.save_changed(obj, form, skip=("is_active",))
        if "is_active" in form.changed_data:
            user_set_active(user=obj, active=obj.is_active, by=_operator(request))

    @admin.action(description="Approve selected users")
    def approve_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = sum(user_approve(user=user, by=_operator(request)) for user in queryset)
        self.message_user(request, f"Approved {done} user(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected users (their personal keys stop working)")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        me = _operator(request)
        done = sum(user_set_active(user=user, active=False, by=me) for user in queryset if user != me)
        self.message_user(request, f"Deactivated {done} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users")
    def reactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = sum(user_set_active(user=user, active=True, by=_operator(request)) for user in queryset)
        self.message_user(request, f"Reactivated {done} user(s).", messages.SUCCESS)


class MembershipFormSet(forms.BaseInlineFormSet):
    """An organization keeps an owner; a personal one has its user alone, as owner."""

    def clean(self) -> None:
        super().clean()
        org = self.instance
        kept = [
            f.cleaned_data
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("user")
        ]
        if not any(row.get("role") == Role.OWNER for row in kept):
            raise ValidationError("The organization needs an owner.")
        if org.personal_for_id is not None and any(row["user"].pk != org.personal_for_id for row in kept):
            raise ValidationError("A personal organization has no other members.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin, IndexedSearchAdmin):
    list_display = ("name", "id", "personal_for", "members", "created_at")
    list_filter = (PersonalFilter,)
    list_select_related = ("personal_for",)
    ordering = ("-created_at",)
    search_prefix_fields = ("name__istartswith",)
    search_help_text = "A name prefix, or an organization id."
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [MembershipInline]
    raw_id_fields = ("personal_for",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        # A subquery per shown row, not a GROUP BY over every organization.
        members = (
            Membership.objects.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(member_count=Coalesce(Subquery(members), 0))

    @admin.display(description="members")
    def members(self, org: Organization) -> int:
        return int(getattr(org, "member_count", 0))

    def audit_org_id(self, obj: Any) -> Any:
        return obj.pk if isinstance(obj, Organization) else getattr(obj, "organization_id", None)

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        if change:
            self.save_changed(obj, form)
        else:
            obj.save()
        # Limits, zone, models reach every key's snapshot; changed budgets are rebuilt (keys app).
        organization_changed.send(sender=Organization, organization=obj, fields=set(form.changed_data))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if isinstance(obj, Organization) and obj.is_personal:
            return False  # it goes with its user
        return super().has_delete_permission(request, obj)

    # Verbose names of what goes with an organization though operators may not delete it one by
    # one (keys: the deletion below withdraws them from the proxy); apps above add theirs.
    deleted_with_organization: set[str] = set()

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.difference_update(self.deleted_with_organization)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        organization_delete_now(organization=obj, by=_operator(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        for org in queryset.filter(personal_for__isnull=True):
            organization_delete_now(organization=org, by=_operator(request))
