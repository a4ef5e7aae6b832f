"""Writing the audit trail. Services call `audit_record` inside their own transaction, so an
entry exists exactly when the change it describes was committed."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Protocol

from audit.models import AuditAction, AuditEvent
from llmaas import request_meta

# Never written to details, whatever a caller passes: the trail must not hold credentials.
_SECRET_WORDS = ("password", "secret", "token", "hash")


class _Actor(Protocol):
    pk: Any
    email: str


class _Target(Protocol):
    pk: Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): _jsonable(v) for k, v in value.items() if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _target_type(target: object) -> str:
    return str(getattr(getattr(target, "_meta", None), "model_name", type(target).__name__.lower()))[:32]


def audit_record(
    *,
    action: AuditAction,
    actor: _Actor | None = None,
    org_id: uuid.UUID | str | None = None,
    target: _Target | None = None,
    details: dict[str, Any] | None = None,
    meta: request_meta.RequestMeta | None = None,
) -> AuditEvent:
    """Append one entry; the client IP and user agent come from the current request, if any
    (or from ``meta``, for work done on a request's behalf elsewhere, e.g. in Celery)."""
    meta = meta or request_meta.current()
    return AuditEvent.objects.create(
        org_id=org_id,
        actor_id=getattr(actor, "pk", None),
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target_type=_target_type(target) if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        details=_jsonable(details or {}),
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
