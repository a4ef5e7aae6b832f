"""Reads of the usage app, scoped to what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from django.db import models
from django.db.models import QuerySet

from accounts.context import OrgContext
from accounts.roles import Action
from keys.models import ApiKey
from llmaas.errors import Forbidden, NotFound
from usage.models import Notification

M = TypeVar("M", bound=models.Model)


def visible_keys(ctx: OrgContext, *, key: UUID | None, own: Action, every: Action) -> list[UUID] | None:
    """The key ids whose data the caller may read (None: all of the organization's), narrowed to
    ``key`` if given: 404 for a key of no concern to this organization, 403 for a member's
    request about a key someone else created."""
    if ctx.allows(every):
        allowed = None
    else:
        ctx.require(own)
        allowed = list(
            ApiKey.objects.filter(organization=ctx.organization, created_by=ctx.user).values_list("id", flat=True)
        )
    if key is None:
        return allowed
    if not ApiKey.objects.filter(organization=ctx.organization, pk=key).exists():
        raise NotFound("No such API key.", code="key_not_found")
    if allowed is not None and key not in allowed:
        raise Forbidden("Members see the usage and chats of the keys they created only.", code="not_key_creator")
    return [key]


@dataclass(frozen=True)
class LogFilter:
    """Which request logs (or chats) a list or an export covers: the ORM and the SQL form of one
    filter, so that a paginated list and a streamed export always select the same rows."""

    org_id: UUID
    key_ids: list[UUID] | None = None  # None: every key
    models: list[str] | None = None
    statuses: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def _lists(self) -> tuple[tuple[str, str, list[Any] | None], ...]:
        return (
            ("key_id", "keys", self.key_ids),
            ("model", "models", self.models),
            ("status", "statuses", self.statuses),
        )

    def queryset(self, model: type[M]) -> QuerySet[M]:
        queryset = model.objects.filter(org_id=self.org_id)  # type: ignore[attr-defined]
        for column, _, values in self._lists():
            if values is not None:
                queryset = queryset.filter(**{f"{column}__in": values})
        if self.start is not None:
            queryset = queryset.filter(created_at__gte=self.start)
        if self.end is not None:
            queryset = queryset.filter(created_at__lt=self.end)
        return queryset

    def where(self, params: dict[str, Any]) -> str:
        """The same filter as SQL (values go into ``params``)."""
        clauses = ["org_id = %(org)s"]
        params["org"] = self.org_id
        for column, name, values in self._lists():
            if values is not None:
                clauses.append(f"{column} = ANY(%({name})s)")
                params[name] = list(values)
        if self.start is not None:
            clauses.append("created_at >= %(start)s")
            params["start"] = self.start
        if self.end is not None:
            clauses.append("created_at < %(end)s")
            params["end"] = self.end
        return " AND ".join(clauses)


def notifications_list(*, ctx: OrgContext, unread: bool = False) -> QuerySet[Notification]:
    ctx.require(Action.NOTIFICATION_VIEW)
    queryset = Notification.objects.filter(organization=ctx.organization, recipient=ctx.user)
    return queryset.filter(read_at__isnull=True) if unread else queryset


def notification_get(*, ctx: OrgContext, notification_id: int) -> Notification:
    found = None
    if 0 < notification_id < 2**63:  # a bigint; anything else names no notification
        found = notifications_list(ctx=ctx).filter(pk=notification_id).first()
    if found is None:
        raise NotFound("No such notification.", code="notification_not_found")
    return found
