"""Operators' billing: accounts (plan, multiplier), the ledger (read-only; corrections are new
entries), redemption codes (amount, uses, expiry), Stripe events and meter events seen."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from billing.ledger import wallet_sync_on_commit
from billing.models import BillingAccount, EntryKind, LedgerEntry, MeterEventSent, RedemptionCode, StripeEvent
from llmaas.adminsite import AuditedAdmin


@admin.register(BillingAccount)
class BillingAccountAdmin(AuditedAdmin):
    list_display = ("organization", "plan", "price_multiplier", "subscription_status", "stripe_customer_id")
    list_filter = ("plan",)
    search_fields = ("organization__name", "stripe_customer_id")
    readonly_fields = ("stripe_subscription_id", "subscription_status", "subscription_event_at")

    def save_model(self, request: HttpRequest, obj: BillingAccount, form: forms.ModelForm, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            wallet_sync_on_commit(obj.organization_id)  # the plan or multiplier reaches admission


class LedgerEntryForm(forms.ModelForm):
    # Usage, top-ups and codes have their own writers; an operator corrects or refunds.
    kind = forms.ChoiceField(choices=[(k.value, k.label) for k in (EntryKind.ADJUSTMENT, EntryKind.REFUND)])

    class Meta:
        model = LedgerEntry
        fields = ["organization", "kind", "amount", "reference", "memo"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AuditedAdmin):
    """Append only: an operator adds an entry (an adjustment, a refund made outside Stripe);
    nobody edits or deletes one."""

    form = LedgerEntryForm
    list_display = ("created_at", "organization", "kind", "amount", "reference", "memo")
    list_filter = ("kind",)
    search_fields = ("reference", "organization__name")

    def has_change_permission(self, request: HttpRequest, obj: LedgerEntry | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: LedgerEntry | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LedgerEntry, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        obj.created_by = request.user if request.user.is_authenticated else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            wallet_sync_on_commit(obj.organization_id)


@admin.register(RedemptionCode)
class RedemptionCodeAdmin(AuditedAdmin):
    list_display = ("code", "amount", "uses", "max_uses", "expires_at", "created_at")
    search_fields = ("code",)
    readonly_fields = ("uses",)


@admin.register(StripeEvent)
class StripeEventAdmin(AuditedAdmin):
    list_display = ("id", "type", "created", "received_at")
    search_fields = ("id",)

    def has_change_permission(self, request: HttpRequest, obj: StripeEvent | None = None) -> bool:
        return False


@admin.register(MeterEventSent)
class MeterEventSentAdmin(AuditedAdmin):
    list_display = ("identifier", "organization", "day", "value", "sent_at")

    def has_change_permission(self, request: HttpRequest, obj: MeterEventSent | None = None) -> bool:
        return False
