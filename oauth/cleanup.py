"""Expired OAuth rows leave the database; revoked refresh tokens stay as long as they could have
lived, so that a stolen, rotated refresh token presented late still revokes its family (DOT's own
``clear_expired`` deletes them at once, which would turn reuse into a mere ``invalid_grant``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

BATCH = 1000


def _delete_in_batches(model: type, condition: Q) -> int:
    deleted = 0
    while True:
        ids = list(model.objects.filter(condition).values_list("pk", flat=True)[:BATCH])  # type: ignore[attr-defined]
        if not ids:
            return deleted
        model.objects.filter(pk__in=ids).delete()  # type: ignore[attr-defined]
        deleted += len(ids)


def oauth_rows_expire() -> dict[str, int]:
    """Delete expired grants, ID tokens and access tokens (none of them passes any more), and
    refresh tokens revoked longer ago than a refresh token lives. Idempotent."""
    now = timezone.now()
    refresh_lifetime = timedelta(seconds=settings.OAUTH_REFRESH_TOKEN_SECONDS)
    return {
        "grants": _delete_in_batches(Grant, Q(expires__lt=now)),
        "refresh_tokens": _delete_in_batches(RefreshToken, Q(revoked__lt=now - refresh_lifetime)),
        "access_tokens": _delete_in_batches(AccessToken, Q(expires__lt=now, refresh_token__isnull=True)),
        "id_tokens": _delete_in_batches(IDToken, Q(expires__lt=now, access_token__isnull=True)),
    }
