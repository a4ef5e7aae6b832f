from datetime import datetime

from django.db.models import QuerySet

from accounts.context import OrgContext
from accounts.roles import Action
from audit.models import AuditEvent


def audit_events(
    *,
    ctx: OrgContext,
    actions: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The organization's audit trail (owners and admins), optionally by action and time range."""
    ctx.require(Action.AUDIT_VIEW)
    queryset = AuditEvent.objects.filter(org_id=ctx.organization.id)
    if actions:
        queryset = queryset.filter(action__in=actions)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset
