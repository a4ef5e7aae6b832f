"""Celery tasks of the billing app: thin wrappers around services, idempotent (beat)."""

from celery import shared_task

from billing.ledger import usage_post
from billing.meters import export_stripe_usage as _export_stripe_usage
from billing.wallet import wallets_rebuild


@shared_task(ignore_result=True)
def ledger_post_usage() -> int:
    """Beat: post settled request costs from the rollups to the ledger."""
    return usage_post()


@shared_task(ignore_result=True)
def export_stripe_usage() -> int:
    """Beat: send pay-as-you-go usage to Stripe's Billing Meters API (deterministic identifiers)."""
    return _export_stripe_usage()


@shared_task(ignore_result=True)
def wallets_reconcile() -> int:
    """Beat: every prepaid wallet in Redis raised to the ledger's figures."""
    return wallets_rebuild()
