"""Reads of the billing app: balance, ledger, invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import stripe
from django.db.models import QuerySet, Sum

from accounts.models import Organization
from billing.models import BillingAccount, LedgerEntry
from billing.stripe_client import stripe_client, stripe_configured, stripe_failed
from usage.exports import iso, text


def balance_get(*, organization: Organization) -> Decimal:
    """The ledger's balance: the sum of every entry (USD)."""
    total = LedgerEntry.objects.filter(organization=organization).aggregate(total=Sum("amount"))["total"]
    return total or Decimal(0)


def ledger_list(*, organization: Organization) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(organization=organization)


def ledger_export_sql(*, organization: Organization, params: dict[str, Any], csv: bool) -> str:
    """The ledger's rows for an export (oldest first); fills ``params``."""
    params["org"] = organization.id
    columns = f"{iso('created_at')} AS created_at, id, kind, amount::text AS amount_usd, {text('memo', csv)} AS memo"
    return f"SELECT {columns}, reference FROM billing_ledger WHERE organization_id = %(org)s ORDER BY created_at, id"  # noqa: S608


def invoices_list(*, account: BillingAccount, limit: int = 24) -> list[dict[str, Any]]:
    """The organization's Stripe invoices, newest first (none without a Stripe customer)."""
    if not account.stripe_customer_id or not stripe_configured():
        return []
    try:
        page = stripe_client().v1.invoices.list(params={"customer": account.stripe_customer_id, "limit": limit})
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return [_invoice(inv.to_dict()) for inv in page.data]


def _invoice(inv: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": inv["id"],
        "number": inv.get("number") or "",
        "status": inv.get("status") or "",
        "currency": inv.get("currency") or "usd",
        "total": Decimal(int(inv.get("total") or 0)) / 100,
        "amount_due": Decimal(int(inv.get("amount_due") or 0)) / 100,
        "created": int(inv.get("created") or 0),
        "hosted_invoice_url": inv.get("hosted_invoice_url") or "",
        "invoice_pdf": inv.get("invoice_pdf") or "",
    }
