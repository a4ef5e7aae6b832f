"""Writes on keys. Each publishes its change to Redis after the commit (see keys/publishing.py).

A write of a key or an organization read earlier locks its row first and re-reads it, then
saves only the fields it changes: a concurrent revocation or rotation is never written back.
"""

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import Application

from accounts.models import Organization, User
from audit.models import AuditAction
from audit.services import audit_record
from inference.proxy.contract import MODE_CHAT, SECRET_PREFIX, hash_secret
from inference.selectors import public_model_names, public_models
from keys import tasks
from keys.models import ApiKey
from keys.signals import budgets_changed
from llmaas.errors import ApplicationError, Conflict
from llmaas.limits import BudgetPeriod, Limits

log = logging.getLogger(__name__)
PREFIX_LENGTH = 10  # "sk-" + 7 characters: public, to tell keys apart; the secret follows it


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def _run_or_queue(task: Any, *args: str) -> None:
    """After commit: publish now; if Redis is down, retry from the queue (the proxy fails closed)."""

    def publish() -> None:
        try:
            task(*args)
        except Exception:
            log.warning("%s%s failed; queued for retry", task.name, args, exc_info=True)
            task.apply_async(args=args, countdown=1)

    transaction.on_commit(publish)


def publish_key_on_commit(key_id: object) -> None:
    _run_or_queue(tasks.key_sync, str(key_id))


def _check_models(models: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(models))  # de-duplicated, in order
    known = public_model_names(names=wanted)
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise ApplicationError(
            f"Unknown model(s): {', '.join(unknown)}.", code="unknown_model", details={"models": unknown}
        )
    return wanted


def key_issue(
    *,
    organization: Organization,
    created_by: User,
    name: str,
    models: list[str] | None = None,
    expires_at: datetime | None = None,
    store_chats: bool = False,
    limits: dict[str, Any] | None = None,
    oauth_application: Application | None = None,
    playground: bool = False,
) -> IssuedKey:
    """Create a key and return its secret, which is never stored and cannot be shown again.
    ``oauth_application``: the app a "Sign in with LLMaaS" key is issued to; ``playground``: the
    portal playground's key (see ``playground_key_issue``)."""
    _check_expiry(expires_at)
    prefix = SECRET_PREFIX + secrets.token_urlsafe(6)[: PREFIX_LENGTH - len(SECRET_PREFIX)]
    secret = _new_secret(prefix)
    with transaction.atomic():
        key = ApiKey.objects.create(
            organization=organization,
            created_by=created_by,
            name=name,
            prefix=prefix,
            secret_hash=hash_secret(secret),
            allowed_models=_check_models(models or []),
            expires_at=expires_at,
            store_chats=store_chats,
            oauth_application=oauth_application,
            playground=playground,
            **(limits or {}),
        )
        app = {"app": oauth_application.client_id} if oauth_application is not None else {}
        audit_record(
            action=AuditAction.KEY_CREATED,
            actor=created_by,
            org_id=organization.id,
            target=key,
            details={"name": name, "prefix": prefix, "models": key.allowed_models, **_limits_of(key), **app},
        )
        publish_key_on_commit(key.id)
        if limits and limits.get("budget_usd") is not None:
            budgets_rebuild_on_commit([("key", key.id)])
    return IssuedKey(key=key, secret=secret)


def _limits_of(owner: Limits) -> dict[str, object]:
    return {name: value for name, value in owner.limits_dict().items() if value is not None}


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("expires_at must be in the future.", code="invalid_expiry")


def _new_secret(prefix: str) -> str:
    """The key's public prefix, then 288 random bits: rotation keeps the prefix."""
    return prefix + secrets.token_urlsafe(36)


LIMIT_FIELDS = Limits.LIMIT_FIELDS
KEY_FIELDS = ("name", "expires_at", "store_chats", *LIMIT_FIELDS)


def _changed(obj: object, changes: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """What ``changes`` really changes on ``obj``: {field: {"from", "to"}} (for the audit trail)."""
    out: dict[str, Any] = {}
    for name in fields:
        attr = "allowed_models" if name == "models" else name
        if name in changes and getattr(obj, attr) != changes[name]:
            out[name] = {"from": getattr(obj, attr), "to": changes[name]}
    return out


BUDGET_FIELDS = ("budget_usd", "budget_period")


def _apply(obj: Any, changes: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """Set ``changes`` on ``obj`` (``models`` is ``allowed_models``); returns the columns to save."""
    columns = [name for name in fields if name in changes]
    for name in columns:
        setattr(obj, name, changes[name])
    if "models" in changes:
        obj.allowed_models = changes["models"]
        columns.append("allowed_models")
    return columns


def key_update(*, key: ApiKey, changes: dict[str, Any], by: User | None = None) -> ApiKey:
    """Change a key's name, models, limits, expiry or chat opt-in; the proxy sees it at once."""
    _check_expiry(changes.get("expires_at"))
    if "models" in changes:  # before the lock: it reads the catalog, not the key
        changes = {**changes, "models": _check_models(changes["models"])}
    with transaction.atomic():
        # ``key`` was read before this transaction: a revocation or a rotation may have committed since.
        locked = ApiKey.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=key.pk)
        if locked.revoked_at is not None:
            raise Conflict("A revoked key cannot be changed.", code="key_revoked")
        changed = _changed(locked, changes, (*KEY_FIELDS, "models"))
        columns = _apply(locked, changes, KEY_FIELDS)
        if columns:
            locked.save(update_fields=columns)
        if changed:
            audit_record(
                action=AuditAction.KEY_CHANGED, actor=by, org_id=locked.organization_id, target=locked, details=changed
            )
        publish_key_on_commit(locked.id)
        if any(name in changes for name in BUDGET_FIELDS):
            budgets_rebuild_on_commit([("key", locked.id)])
    return locked


def publish_organization_on_commit(org_id: object) -> None:
    _run_or_queue(tasks.organization_sync, str(org_id))


def organization_limits_set(
    *, organization: Organization, changes: dict[str, Any], by: User | None = None
) -> Organization:
    """Change an organization's limits, time zone or models; every key of it is republished."""
    if "models" in changes:  # before the lock: it reads the catalog, not the organization
        changes = {**changes, "models": _check_models(changes["models"])}
    with transaction.atomic():
        # Re-read under the lock: another admin's change committed meanwhile stays.
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        changed = _changed(org, changes, (*LIMIT_FIELDS, "timezone", "models"))
        columns = _apply(org, changes, (*LIMIT_FIELDS, "timezone"))
        org.full_clean()
        if columns:
            org.save(update_fields=columns)
        if changed:
            audit_record(action=AuditAction.LIMITS_CHANGED, actor=by, org_id=org.id, target=org, details=changed)
        publish_organization_on_commit(org.id)
        budgets_changed_on_commit(org, changes)
    return org


def budgets_changed_on_commit(org: Organization, changes: Iterable[str]) -> None:
    """The budgets an organization's change touches: its own, and its keys' when its zone moved
    their periods' boundaries; nothing else of the platform."""
    if "timezone" in changes:
        keys = ApiKey.objects.filter(organization=org, budget_usd__isnull=False, revoked_at__isnull=True)
        budgets_rebuild_on_commit([("org", org.id), *(("key", key_id) for key_id in keys.values_list("id", flat=True))])
    elif any(name in changes for name in BUDGET_FIELDS):
        budgets_rebuild_on_commit([("org", org.id)])


def budgets_rebuild_on_commit(scopes: Iterable[tuple[str, object]]) -> None:
    """Tell the budgets (usage app) which scopes' counters to rebuild, after the commit."""
    budgets_changed.send(sender=ApiKey, scopes=[(scope, str(scope_id)) for scope, scope_id in scopes])


@dataclass(frozen=True)
class Rotation:
    key: ApiKey
    secret: str | None  # None when the call repeats a rotation id: the secret was shown once
    replayed: bool


MAX_GRACE = timedelta(days=30)


def key_rotate(*, key: ApiKey, rotation_id: str, grace: timedelta, by: User | None = None) -> Rotation:
    """Give the key a new secret (same id and prefix); the old one works until the grace ends.

    Idempotent on ``rotation_id``: repeating it changes nothing and returns the same key.
    """
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ApplicationError("grace_seconds must be between 0 and 30 days.", code="invalid_grace")
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is not None:
            raise Conflict("A revoked key cannot be rotated.", code="key_revoked")
        if locked.rotation_id == rotation_id:
            return Rotation(locked, None, replayed=True)
        secret = _new_secret(locked.prefix)
        now = timezone.now()
        old_hashes = {locked.secret_hash, locked.previous_secret_hash}
        locked.previous_secret_hash = locked.secret_hash if grace > timedelta(0) else None
        locked.previous_secret_expires_at = now + grace if grace > timedelta(0) else None
        locked.secret_hash = hash_secret(secret)
        locked.rotation_id = rotation_id
        locked.rotated_at = now
        locked.save(
            update_fields=[
                "previous_secret_hash",
                "previous_secret_expires_at",
                "secret_hash",
                "rotation_id",
                "rotated_at",
            ]
        )
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=by,
            org_id=locked.organization_id,
            target=locked,
            details={"prefix": locked.prefix, "grace_seconds": int(grace.total_seconds())},
        )
        publish_key_on_commit(locked.id)
        withdraw_on_commit([h for h in old_hashes - {locked.previous_secret_hash} if h])
    return Rotation(locked, secret, replayed=False)


def withdraw_on_commit(key_hashes: list[str]) -> None:
    """After commit, remove these secrets' snapshots (replaced secrets, keys of a deleted org)."""
    for key_hash in key_hashes:
        _run_or_queue(tasks.snapshot_withdraw, key_hash)


def key_revoke(*, key: ApiKey, by: User | None) -> ApiKey:
    """Revoke a key (idempotent). The proxy refuses it as soon as Redis hears of it."""
    with transaction.atomic():
        now = timezone.now()
        # A conditional UPDATE: two concurrent revokes record one revoker and one time.
        if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by):
            key.revoked_at, key.revoked_by = now, by
            audit_record(
                action=AuditAction.KEY_REVOKED,
                actor=by,
                org_id=key.organization_id,
                target=key,
                details={"name": key.name, "prefix": key.prefix},
            )
        else:
            key.refresh_from_db()
        publish_key_on_commit(key.id)
    return key


@dataclass(frozen=True)
class PlaygroundModel:
    name: str
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal


@dataclass(frozen=True)
class PlaygroundKey:
    issued: IssuedKey
    models: list[PlaygroundModel]


PLAYGROUND_KEY_NAME = "Playground"


def _playground_models(organization: Organization) -> list[PlaygroundModel]:
    """The enabled chat models the organization allows, with their prices (the dearest deployment's)."""
    return [
        PlaygroundModel(m.name, m.input_price_per_mtok, m.output_price_per_mtok)
        for m in public_models(names=organization.allowed_models or None)
        if m.mode == MODE_CHAT
    ]


def playground_budget() -> Decimal:
    """The playground key's lifetime budget (LLMAAS_PLAYGROUND_BUDGET_USD)."""
    try:
        budget = Decimal(settings.PLAYGROUND_BUDGET_USD)
    except InvalidOperation:
        raise ImproperlyConfigured("LLMAAS_PLAYGROUND_BUDGET_USD must be a number of USD, e.g. 0.50.") from None
    if not budget.is_finite() or budget <= 0:
        raise ImproperlyConfigured("LLMAAS_PLAYGROUND_BUDGET_USD must be above 0.")
    return budget


def playground_key_issue(*, organization: Organization, user: User) -> PlaygroundKey:
    """A short-lived, budget-capped key for the portal's playground, with chats stored.

    It works for LLMAAS_PLAYGROUND_KEY_SECONDS with a lifetime budget of
    LLMAAS_PLAYGROUND_BUDGET_USD; the organization's own limits and budget still apply at
    admission. The user's earlier playground keys in this organization are revoked: one live
    playground key per user and organization, so an abandoned one never outlives the next.
    ``models``: the active catalog models the organization allows (possibly none), with prices.
    """
    with transaction.atomic():
        earlier = ApiKey.objects.filter(
            organization=organization, created_by=user, playground=True, revoked_at__isnull=True
        )
        for key in earlier.select_for_update():
            key_revoke(key=key, by=user)
        issued = key_issue(
            organization=organization,
            created_by=user,
            name=PLAYGROUND_KEY_NAME,
            expires_at=timezone.now() + timedelta(seconds=settings.PLAYGROUND_KEY_SECONDS),
            store_chats=True,
            limits={"budget_usd": playground_budget(), "budget_period": BudgetPeriod.LIFETIME},
            playground=True,
        )
    return PlaygroundKey(issued=issued, models=_playground_models(organization))
