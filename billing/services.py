"""Writes of the billing app: accounts and plans, Checkout sessions, redemption codes, and the
Stripe events that move money or change a subscription. Each writer owns its transaction and
audits in it; Redis (the wallet) follows after the commit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization, User
from audit.models import AuditAction
from audit.services import audit_record
from billing.ledger import entry_append, wallet_sync_on_commit
from billing.models import BillingAccount, EntryKind, LedgerEntry, Plan, Redemption, RedemptionCode, StripeEvent
from billing.stripe_client import stripe_client, stripe_failed
from keys.services import organization_limits_set
from llmaas.errors import ApplicationError, Conflict, NotFound

log = logging.getLogger(__name__)

CENT = Decimal("0.01")


def billing_account_get(*, organization: Organization) -> BillingAccount:
    """The organization's account, created on first use on the free plan. (Reading it never
    changes limits: an organization an operator left without a budget keeps none.)"""
    account = BillingAccount.objects.filter(organization=organization).first()
    if account is not None:
        return account
    return BillingAccount.objects.get_or_create(organization=organization)[0]


def _free_budget_ensure(organization_id: Any, by: User | None) -> None:
    """An organization moved (back) to the free plan without a budget gets the small default one:
    free calls are never unbounded."""
    organization = Organization.objects.get(pk=organization_id)
    if organization.budget_usd is None:
        changes = {"budget_usd": Decimal(settings.BILLING_FREE_BUDGET_USD)}
        organization_limits_set(organization=organization, changes=changes, by=by)


def plan_set(*, organization: Organization, plan: str, by: User | None = None) -> BillingAccount:
    """Move the organization to ``plan``. Pay-as-you-go needs a subscription (Checkout), so it is
    reached through Stripe's events only; free and prepaid are chosen here."""
    if plan not in (Plan.FREE, Plan.PREPAID):
        raise ApplicationError(
            "Choose 'free' or 'prepaid'; pay-as-you-go starts with a subscription (POST /api/billing/subscription).",
            code="invalid_plan",
        )
    billing_account_get(organization=organization)
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(organization=organization)
        if account.plan == plan:
            return account
        before = account.plan
        account.plan = plan
        account.save(update_fields=["plan", "updated_at"])
        if plan == Plan.FREE:
            _free_budget_ensure(organization.id, by)
        audit_record(
            action=AuditAction.BILLING_PLAN_CHANGED, actor=by, org_id=organization.id, target=organization,
            details={"from": before, "to": plan},
        )  # fmt: skip
        wallet_sync_on_commit(organization.id)
    return account


def stripe_customer_ensure(*, organization: Organization) -> str:
    """The organization's Stripe customer id, created once (keyed by an idempotency key on the
    organization, so two racing calls make one customer)."""
    account = billing_account_get(organization=organization)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    try:
        customer = stripe_client().v1.customers.create(
            params={"name": organization.name[:250], "metadata": {"organization_id": str(organization.id)}},
            options={"idempotency_key": f"llmaas-customer-{organization.id}"},
        )
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(stripe_customer_id=customer.id)
    return str(BillingAccount.objects.get(pk=account.pk).stripe_customer_id)


def topup_session_create(*, organization: Organization, amount: Decimal, by: User | None = None) -> dict[str, str]:
    """A Stripe Checkout session (payment) that credits ``amount`` USD once it is paid: the credit
    comes with the ``checkout.session.completed`` event, never from the browser's return."""
    low, high = Decimal(settings.BILLING_TOPUP_MIN_USD), Decimal(settings.BILLING_TOPUP_MAX_USD)
    if amount != amount.quantize(CENT) or not low <= amount <= high:
        raise ApplicationError(
            f"A top-up is between ${low} and ${high}, in whole cents.",
            code="invalid_amount",
            details={"min": str(low), "max": str(high)},
        )
    customer = stripe_customer_ensure(organization=organization)
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": customer,
                "client_reference_id": str(organization.id),
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": int(amount * 100),
                            "product_data": {"name": "LLMaaS prepaid credit"},
                        },
                    }
                ],
                "metadata": {"organization_id": str(organization.id), "purpose": "topup"},
                "success_url": f"{settings.BILLING_RETURN_URL}?topup=success",
                "cancel_url": f"{settings.BILLING_RETURN_URL}?topup=cancelled",
            }
        )
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    audit_record(
        action=AuditAction.BILLING_TOPUP_STARTED, actor=by, org_id=organization.id, target=organization,
        details={"amount_usd": str(amount), "session": session.id},
    )  # fmt: skip
    return {"id": str(session.id), "url": str(session.url or "")}


def subscription_session_create(*, organization: Organization, by: User | None = None) -> dict[str, str]:
    """A Checkout session (subscription) for the metered pay-as-you-go price."""
    if not settings.STRIPE_METERED_PRICE_ID:
        raise ApplicationError("Pay-as-you-go is not offered on this service.", code="plan_unavailable")
    customer = stripe_customer_ensure(organization=organization)
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": str(organization.id),
                "line_items": [{"price": settings.STRIPE_METERED_PRICE_ID}],
                "metadata": {"organization_id": str(organization.id), "purpose": "subscription"},
                "success_url": f"{settings.BILLING_RETURN_URL}?subscription=success",
                "cancel_url": f"{settings.BILLING_RETURN_URL}?subscription=cancelled",
            }
        )
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return {"id": str(session.id), "url": str(session.url or "")}


def code_redeem(*, organization: Organization, code: str, by: User | None = None) -> Decimal:
    """Credit the code's amount once per organization, within its uses and before its expiry."""
    now = timezone.now()
    with transaction.atomic():
        found = RedemptionCode.objects.filter(code__iexact=code.strip()).first()
        if found is None or (found.expires_at is not None and found.expires_at <= now):
            raise NotFound("No such redemption code, or it has expired.", code="code_not_found")
        # Claim a use with a conditional UPDATE: concurrent redemptions cannot exceed max_uses.
        claimed = RedemptionCode.objects.filter(pk=found.pk, uses__lt=F("max_uses")).update(uses=F("uses") + 1)
        if not claimed:
            raise Conflict("This code has been used as many times as it may be.", code="code_exhausted")
        try:
            with transaction.atomic():
                Redemption.objects.create(code=found, organization=organization, redeemed_by=by)
        except IntegrityError:
            raise Conflict("This organization already redeemed this code.", code="code_already_redeemed") from None
        entry_append(
            organization=organization, kind=EntryKind.REDEMPTION, amount=found.amount,
            reference=f"{found.pk}:{organization.id}", memo=f"Code {found.code}", by=by,
        )  # fmt: skip
        audit_record(
            action=AuditAction.BILLING_CODE_REDEEMED, actor=by, org_id=organization.id, target=organization,
            details={"code": found.code, "amount_usd": str(found.amount)},
        )  # fmt: skip
    return found.amount


def adjustment_append(*, organization: Organization, amount: Decimal, reference: str, memo: str, by: User) -> None:
    """An operator's correction (the admin site): a new entry, never an edit."""
    with transaction.atomic():
        _, created = entry_append(
            organization=organization, kind=EntryKind.ADJUSTMENT, amount=amount, reference=reference, memo=memo, by=by
        )
        if created:
            audit_record(
                action=AuditAction.BILLING_CREDITED, actor=by, org_id=organization.id, target=organization,
                details={"kind": "adjustment", "amount_usd": str(amount), "memo": memo},
            )  # fmt: skip


# --- Stripe events ---------------------------------------------------------------------------
def _account_of(obj: Any) -> BillingAccount | None:
    """The account an event's object belongs to: our metadata first, else its customer."""
    metadata = obj.get("metadata") or {}
    org_id = metadata.get("organization_id") or obj.get("client_reference_id")
    if org_id:
        account = BillingAccount.objects.filter(organization_id=org_id).first()
        if account is not None:
            return account
    customer = obj.get("customer")
    if isinstance(customer, str) and customer:
        return BillingAccount.objects.filter(stripe_customer_id=customer).first()
    return None


def _checkout_completed(event: Any, obj: Any) -> None:
    account = _account_of(obj)
    if account is None:
        log.warning("stripe %s: no organization for session %s", event.id, obj.get("id"))
        return
    if obj.get("mode") != "payment" or obj.get("payment_status") != "paid":
        return  # subscriptions are followed through customer.subscription.* events
    amount = Decimal(int(obj.get("amount_total") or 0)) / 100
    if amount <= 0:
        return
    _, created = entry_append(
        organization=account.organization, kind=EntryKind.TOPUP, amount=amount, reference=str(obj["id"]),
        memo="Stripe Checkout top-up",
    )  # fmt: skip
    if created:
        audit_record(
            action=AuditAction.BILLING_CREDITED, org_id=account.organization_id, target=account.organization,
            details={"kind": "topup", "amount_usd": str(amount), "session": obj["id"]},
        )  # fmt: skip


def _charge_refunded(event: Any, obj: Any) -> None:
    """A refund of a top-up's charge: the ledger follows the charge's cumulative
    ``amount_refunded`` (one entry per new figure), so partial refunds add up and a redelivered or
    older event posts nothing."""
    account = _account_of(obj)
    if account is None:
        return
    refunded = Decimal(int(obj.get("amount_refunded") or 0)) / 100
    prefix = f"charge:{obj['id']}:"
    posted = -sum(
        (e.amount for e in LedgerEntry.objects.filter(kind=EntryKind.REFUND, reference__startswith=prefix)),
        Decimal(0),
    )
    if refunded > posted:
        entry_append(
            organization=account.organization, kind=EntryKind.REFUND, amount=posted - refunded,
            reference=f"{prefix}{int(refunded * 100)}", memo="Stripe refund",
        )  # fmt: skip


_PAYG_STATUSES = {"active", "trialing", "past_due"}


def _subscription_changed(event: Any, obj: Any) -> None:
    """Subscription state by the event's time: an event older than the one applied is ignored,
    so events delivered out of order end in the state of the newest."""
    account = _account_of(obj)
    if account is None:
        return
    at = datetime.fromtimestamp(int(event.created), tz=UTC)
    status = "canceled" if event.type == "customer.subscription.deleted" else str(obj.get("status") or "")
    plan = Plan.PAYG if status in _PAYG_STATUSES else Plan.FREE
    locked = BillingAccount.objects.select_for_update().get(pk=account.pk)
    if locked.subscription_event_at is not None and at < locked.subscription_event_at:
        return
    before = locked.plan
    locked.stripe_subscription_id = str(obj.get("id") or "")
    locked.subscription_status = status
    locked.subscription_event_at = at
    fields = ["stripe_subscription_id", "subscription_status", "subscription_event_at", "updated_at"]
    if locked.plan != Plan.PREPAID or plan == Plan.PAYG:
        locked.plan = plan
        fields.append("plan")
    locked.save(update_fields=fields)
    if before == Plan.PAYG and locked.plan == Plan.FREE:
        _free_budget_ensure(locked.organization_id, None)
    audit_record(
        action=AuditAction.BILLING_SUBSCRIPTION_CHANGED, org_id=locked.organization_id,
        details={"status": status, "from": before, "to": locked.plan, "event": event.id},
    )  # fmt: skip
    wallet_sync_on_commit(locked.organization_id)


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "charge.refunded": _charge_refunded,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
}


def stripe_event_process(*, event: stripe.Event) -> bool:
    """Apply a verified event once: its id is recorded in the same transaction as its effect, so
    a redelivery (or a concurrent duplicate) changes nothing. Returns False for a duplicate."""
    with transaction.atomic():
        created = datetime.fromtimestamp(int(event.created), tz=UTC)
        _, new = StripeEvent.objects.get_or_create(id=event.id, defaults={"type": event.type, "created": created})
        if not new:
            return False
        handler = HANDLERS.get(event.type)
        if handler is not None:
            handler(event, event.data.object.to_dict())
    return True
