"""Limits shared by organizations and keys: budget per period, rpm, tpm, parallel requests.

Each scope's limits apply on their own (a key's call must pass its key's and its
organization's); empty means unlimited. Budgets reset on the organization's time-zone
boundary (daily, monthly) or never (lifetime).
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class BudgetPeriod(models.TextChoices):
    DAILY = "daily"
    MONTHLY = "monthly"
    LIFETIME = "lifetime"


class Limits(models.Model):
    budget_usd = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    budget_period = models.CharField(max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    rpm = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute (sliding).")
    tpm = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute (sliding).")
    max_parallel = models.PositiveIntegerField(null=True, blank=True, help_text="Requests in flight at once.")

    class Meta:
        abstract = True

    LIMIT_FIELDS = ("budget_usd", "budget_period", "rpm", "tpm", "max_parallel")

    def limits_dict(self) -> dict[str, object]:
        return {
            "budget_usd": None if self.budget_usd is None else str(self.budget_usd),
            "budget_period": self.budget_period,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "max_parallel": self.max_parallel,
        }
