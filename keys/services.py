"""Writes on keys. Each publishes its change to Redis after the commit (see inference.publishing)."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from inference.models import ServedModel
from inference.proxy.contract import SECRET_PREFIX, hash_secret
from keys.models import ApiKey
from llmaas.errors import ApplicationError

log = logging.getLogger(__name__)
PREFIX_LENGTH = 10  # "sk-" + 7 characters: enough to tell keys apart, far too little to guess


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def _publish_on_commit(key_id: object) -> None:
    def publish() -> None:
        from keys.tasks import key_sync

        try:
            key_sync(str(key_id))
        except Exception:  # Redis down: retry from the queue; the proxy fails closed meanwhile
            log.warning("publishing key %s to Redis failed; queued for retry", key_id, exc_info=True)
            key_sync.apply_async(args=(str(key_id),), countdown=1)

    transaction.on_commit(publish)


def _check_models(models: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(models))  # de-duplicated, in order
    known = set(ServedModel.objects.filter(is_active=True, name__in=wanted).values_list("name", flat=True))
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
) -> IssuedKey:
    """Create a key and return its secret, which is never stored and cannot be shown again."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("expires_at must be in the future.", code="invalid_expiry")
    secret = SECRET_PREFIX + secrets.token_urlsafe(36)
    with transaction.atomic():
        key = ApiKey.objects.create(
            organization=organization,
            created_by=created_by,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            allowed_models=_check_models(models or []),
            expires_at=expires_at,
            store_chats=store_chats,
        )
        _publish_on_commit(key.id)
    return IssuedKey(key=key, secret=secret)


def key_revoke(*, key: ApiKey, by: User | None) -> ApiKey:
    """Revoke a key (idempotent). The proxy refuses it as soon as Redis hears of it."""
    with transaction.atomic():
        now = timezone.now()
        # A conditional UPDATE: two concurrent revokes record one revoker and one time.
        if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by):
            key.revoked_at, key.revoked_by = now, by
        else:
            key.refresh_from_db()
        _publish_on_commit(key.id)
    return key


def keys_last_used_record(*, used: dict[str, datetime]) -> int:
    """Store last-used times gathered by the proxy; never moves a time backwards."""
    updated = 0
    for key_id, when in used.items():
        updated += ApiKey.objects.filter(pk=key_id).exclude(last_used_at__gte=when).update(last_used_at=when)
    return updated
