import uuid
from decimal import Decimal

import redis
from django.db.models import QuerySet
from django.utils import timezone

from accounts.context import OrgContext
from accounts.models import Organization
from accounts.roles import Action
from inference.proxy.contract import NANO_PER_USD, budget_period
from keys.models import ApiKey
from keys.publishing import NO_MODEL, effective_models
from llmaas.errors import Forbidden, NotFound
from llmaas.limits import Limits
from llmaas.redis_client import redis_client, redis_keys, redis_unavailable


def keys_visible(*, ctx: OrgContext) -> QuerySet[ApiKey]:
    """The organization's keys this member may see: all for owners/admins, their own otherwise."""
    ctx.require(Action.KEY_LIST)
    queryset = ApiKey.objects.filter(organization=ctx.organization).select_related("created_by", "oauth_application")
    if not ctx.allows(Action.KEY_MANAGE_ANY):
        queryset = queryset.filter(created_by=ctx.user)
    return queryset


def key_get(*, ctx: OrgContext, key_id: uuid.UUID, manage: bool = False) -> ApiKey:
    """The organization's key (404 for anything else); 403 if the role may not see or manage it."""
    key = (
        ApiKey.objects.filter(organization=ctx.organization, pk=key_id)
        .select_related("created_by", "oauth_application")
        .first()
    )
    if key is None:
        raise NotFound("No such API key.", code="key_not_found")
    ctx.require(Action.KEY_MANAGE_OWN if manage else Action.KEY_LIST)
    if not ctx.allows(Action.KEY_MANAGE_ANY) and key.created_by_id != ctx.user.pk:
        raise Forbidden("Members see and manage only the keys they created.", code="not_key_creator")
    return key


def _usd(nano: int) -> str:
    return str((Decimal(nano) / NANO_PER_USD).quantize(Decimal("0.000001")))


def _budget(scope: str, owner: Limits, scope_id: str, org_id: str, tz: str) -> dict[str, object] | None:
    if owner.budget_usd is None:
        return None
    period_id, _, end = budget_period(owner.budget_period, tz, timezone.now())
    try:
        raw = redis_client().hgetall(redis_keys().budget(org_id, scope, scope_id, period_id))
    except redis.RedisError:
        raise redis_unavailable("Budget state") from None
    state = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    limit = int(owner.budget_usd * NANO_PER_USD)
    spent, reserved = state.get("spent", 0), state.get("reserved", 0)
    return {
        "scope": scope,
        "limit_usd": str(owner.budget_usd),
        "period": owner.budget_period,
        "spent_usd": _usd(spent),
        "reserved_usd": _usd(reserved),
        "remaining_usd": _usd(max(0, limit - spent - reserved)),
        "resets_at": end.isoformat() if end else None,
    }


def _tightest(name: str, key: ApiKey, org: Organization) -> dict[str, object]:
    values = [(getattr(owner, name), scope) for owner, scope in ((key, "key"), (org, "organization"))]
    present = [(value, scope) for value, scope in values if value is not None]
    if not present:
        return {"value": None, "set_by": None}
    value, scope = min(present, key=lambda pair: pair[0])
    return {"value": value, "set_by": scope}


def key_effective(*, key: ApiKey) -> dict[str, object]:
    """What actually applies to the key: key ∩ organization, and which scope sets each limit."""
    org = key.organization
    models = effective_models(key.allowed_models, org.allowed_models)
    models_set_by = {(True, True): "both", (True, False): "key", (False, True): "organization"}.get(
        (bool(key.allowed_models), bool(org.allowed_models))
    )
    budgets = [
        b
        for b in (
            _budget("key", key, str(key.id), str(org.id), org.timezone),
            _budget("org", org, str(org.id), str(org.id), org.timezone),
        )
        if b is not None
    ]
    binding = min(budgets, key=lambda b: Decimal(str(b["remaining_usd"])), default=None)
    return {
        "models": {"value": [m for m in models if m != NO_MODEL] if models else None, "set_by": models_set_by},
        "budgets": budgets,
        "budget_binding_scope": binding["scope"] if binding else None,
        "rpm": _tightest("rpm", key, org),
        "tpm": _tightest("tpm", key, org),
        "max_parallel": _tightest("max_parallel", key, org),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "timezone": org.timezone,
    }
