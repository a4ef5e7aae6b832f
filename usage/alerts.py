"""Budget alerts: at 90 % an email and an in-app notification, once per scope and period; at
100 % also a block, published to Redis, that makes admission refuse the scope's calls.

"Once" holds under racing checks because an alert is a row with a unique constraint
(scope, scope id, period, threshold, budget): the check that inserts it notifies, the others
find it there. Raising the budget is a new budget: its thresholds alert again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.roles import Role
from inference.proxy.contract import NANO_PER_USD
from keys.models import ApiKey
from usage.budgets import ScopeSpend, budgeted_scopes, raise_spent
from usage.models import BudgetAlert, Notification
from usage.signals import budget_alert_created

log = logging.getLogger(__name__)
THRESHOLDS = (90, 100)
EMAIL_CLAIM_SECONDS = 600  # a sender that died mid-send leaves the alert to the next try after this

_INSERT = """
INSERT INTO usage_budgetalert
    (scope, scope_id, period_id, threshold, limit_nano, spent_nano, organization_id, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT ON CONSTRAINT budget_alert_once DO NOTHING
RETURNING id
"""


@dataclass(frozen=True)
class CheckResult:
    scopes: int
    alerts: int
    blocked: int


def _usd(nano: int) -> str:
    return str((Decimal(nano) / NANO_PER_USD).quantize(Decimal("0.01")))


def alert_recipients(organization_id: str, scope: str, scope_id: str) -> list[User]:
    """Owners and admins of the organization, and for a key's budget also the key's creator."""
    roles = Q(role__in=[Role.OWNER, Role.ADMIN])
    if scope == "key":
        creator = ApiKey.objects.filter(pk=scope_id).values_list("created_by_id", flat=True).first()
        if creator is not None:
            roles |= Q(user_id=creator)
    members = Membership.objects.filter(roles, organization_id=organization_id, user__is_active=True)
    return [m.user for m in members.select_related("user").order_by("user__email")]


def _describe(s: ScopeSpend, threshold: int) -> tuple[str, str]:
    if s.scope == "key":
        key = ApiKey.objects.filter(pk=s.scope_id).first()
        what = f"API key {key.name!r} ({key.prefix}…)" if key else f"API key {s.scope_id}"
    else:
        org = Organization.objects.filter(pk=s.scope_id).first()
        what = f"organization {org.name!r}" if org else f"organization {s.scope_id}"
    resets = f"It resets at {s.end.isoformat()}." if s.end else "It is a lifetime budget: it never resets."
    if threshold >= 100:
        title = f"Budget exhausted: {what}"
        body = (
            f"The {what} has spent ${_usd(s.spent_nano)} of its ${_usd(s.budget_nano)} budget: its calls are "
            f"refused (429 insufficient_quota) until the budget is raised or the period ends. {resets}"
        )
    else:
        title = f"{threshold}% of the budget used: {what}"
        body = f"The {what} has spent ${_usd(s.spent_nano)} of its ${_usd(s.budget_nano)} budget. {resets}"
    return title, body


def alert_fire(s: ScopeSpend, threshold: int, *, notify: bool = True) -> bool:
    """Record the alert; only the caller that records it notifies (returns whether it did)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT,
                [s.scope, s.scope_id, s.period_id, threshold, s.budget_nano, s.spent_nano, s.org_id],
            )
            row = cursor.fetchone()
        if row is None:
            return False
        if notify:
            title, body = _describe(s, threshold)
            data = {
                "alert_id": row[0],
                "scope": s.scope,
                "scope_id": s.scope_id,
                "period_id": s.period_id,
                "threshold": threshold,
                "limit_usd": _usd(s.budget_nano),
                "spent_usd": _usd(s.spent_nano),
                "resets_at": s.end.isoformat() if s.end else None,
            }
            Notification.objects.bulk_create(
                Notification(
                    organization_id=s.org_id, recipient=user, kind="budget.threshold", title=title, body=body, data=data
                )
                for user in alert_recipients(s.org_id, s.scope, s.scope_id)
            )
            budget_alert_created.send(sender=BudgetAlert, alert_id=row[0])  # mailed after the commit
    return True


def check_budgets() -> CheckResult:
    """Beat: PostgreSQL's spend of every budgeted scope; alert at 90 % and 100 %, block at 100 %."""
    scopes = budgeted_scopes()
    alerts = blocked = 0
    for s in scopes:
        raise_spent(s)  # also publishes the block of an exhausted period
        blocked += s.exhausted
        if s.budget_nano <= 0:
            continue
        crossed = [t for t in THRESHOLDS if s.spent_nano * 100 >= s.budget_nano * t]
        # Only the highest threshold crossed notifies; the lower ones are recorded silently.
        for threshold in crossed:
            notify = threshold == crossed[-1]
            alerts += alert_fire(s, threshold, notify=notify) and notify
    if blocked:
        log.warning("%d budget scopes exhausted and blocked", blocked)
    return CheckResult(scopes=len(scopes), alerts=alerts, blocked=blocked)


def alert_email_send(*, alert_id: int) -> int:
    """Email an alert's notification to its recipients, at most once unless a send fails."""
    now = timezone.now()
    stale = now - timedelta(seconds=EMAIL_CLAIM_SECONDS)
    claimed = (
        BudgetAlert.objects.filter(pk=alert_id, emailed_at__isnull=True)
        .filter(Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=stale))
        .update(email_claimed_at=now)
    )
    if not claimed:
        return 0
    notes = Notification.objects.filter(data__alert_id=alert_id).select_related("recipient")
    emails = sorted({n.recipient.email for n in notes})
    first = notes.first()
    try:
        if emails and first is not None:
            link = f"{settings.PUBLIC_URL}/api/notifications/"
            send_mail(first.title, f"{first.body}\n\n{link}\n", None, emails, fail_silently=False)
    except Exception:
        BudgetAlert.objects.filter(pk=alert_id).update(email_claimed_at=None)  # let the retry send it
        raise
    BudgetAlert.objects.filter(pk=alert_id).update(emailed_at=timezone.now())
    return len(emails)
