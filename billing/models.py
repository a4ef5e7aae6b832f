"""Billing: an account per organization (plan, Stripe customer, price multiplier), one
append-only ledger of money, redemption codes, the Stripe events seen and the meter events sent.

Money is Decimal USD. The ledger is the record: the wallet's balance is the sum of its entries
(credits positive, debits negative); Redis holds only a hot copy for admission (wallet.py).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import Organization

MAX_DIGITS, DECIMALS = 20, 10  # USD to 10^-10: request_logs.cost's precision


class Plan(models.TextChoices):
    FREE = "free", "Free (a small monthly budget)"
    PAYG = "payg", "Pay as you go (metered, invoiced by Stripe)"
    PREPAID = "prepaid", "Prepaid credit (calls spend the balance)"


class BillingAccount(models.Model):
    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, primary_key=True, related_name="billing_account"
    )
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.FREE)
    price_multiplier = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Applied to the catalog's list prices for this organization (1 = list price).",
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    stripe_subscription_id = models.CharField(max_length=255, blank=True, default="")
    subscription_status = models.CharField(max_length=32, blank=True, default="")
    # The `created` time of the Stripe event that set the subscription's state: an older event
    # delivered late never overwrites a newer one.
    subscription_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "billing_accounts"
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="billing_account_stripe_customer_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} ({self.plan})"


class EntryKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    REFUND = "refund", "Refund"
    REDEMPTION = "redemption", "Redemption code"
    ADJUSTMENT = "adjustment", "Adjustment"
    USAGE = "usage", "Usage"


class LedgerEntry(models.Model):
    """One movement of money; never updated (a trigger refuses it): a correction is a new entry.
    ``reference`` makes each movement unique per kind (a Checkout session, a refund, a code and
    organization, an hour of usage and its sequence), so every writer is idempotent."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMALS, help_text="USD; credits positive, debits negative"
    )
    # Usage entries: the list-price cost they post (before the multiplier) and its UTC hour.
    list_cost = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMALS, default=Decimal(0))
    hour = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=255)
    memo = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_ledger"
        constraints = [models.UniqueConstraint(fields=["kind", "reference"], name="billing_ledger_reference_unique")]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="billing_ledger_org_created"),
            models.Index(fields=["organization", "kind", "hour"], name="billing_ledger_org_usage"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.reference})"


class RedemptionCode(models.Model):
    code = models.CharField(max_length=64, unique=True, help_text="What users type (case-insensitive)")
    amount = models.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMALS,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="USD credited",
    )
    max_uses = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    uses = models.PositiveIntegerField(default=0, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_redemption_codes"

    def __str__(self) -> str:
        return self.code


class Redemption(models.Model):
    code = models.ForeignKey(RedemptionCode, on_delete=models.PROTECT, related_name="redemptions")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    redeemed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_redemptions"
        constraints = [models.UniqueConstraint(fields=["code", "organization"], name="billing_redemption_once")]

    def __str__(self) -> str:
        return f"{self.code_id} by {self.organization_id}"


class StripeEvent(models.Model):
    """A Stripe event processed (its id): a redelivery is acknowledged and changes nothing."""

    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="The event's own time at Stripe")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_stripe_events"

    def __str__(self) -> str:
        return f"{self.id} ({self.type})"


class MeterEventSent(models.Model):
    """A meter event sent to Stripe: ``identifier`` is deterministic (organization, day, what was
    sent before), so a retry sends the same identifier and Stripe counts it once."""

    identifier = models.CharField(max_length=100, primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    day = models.DateField()
    value = models.BigIntegerField(help_text="Micro-USD at the organization's prices")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_meter_events"
        indexes = [models.Index(fields=["organization", "day"], name="billing_meter_org_day")]

    def __str__(self) -> str:
        return self.identifier
