"""One-time tokens sent by email (verification, password reset) and in invitations.

A token is 256 random bits, url-safe; only its SHA-256 is stored. Claiming one is a
conditional UPDATE (unused, unexpired), so two concurrent uses cannot both succeed.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AccountToken, TokenPurpose, User
from llmaas.errors import ApplicationError

TOKEN_MAX_LENGTH = 200


def new_token() -> tuple[str, str]:
    """A fresh token and its hash."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _ttl(purpose: TokenPurpose) -> int:
    if purpose == TokenPurpose.VERIFY_EMAIL:
        return int(settings.EMAIL_VERIFICATION_TTL)
    return int(settings.PASSWORD_RESET_TTL)


def account_token_issue(*, user: User, purpose: TokenPurpose) -> str:
    """A new token for ``user``; earlier unused tokens of the same purpose stop working."""
    token, digest = new_token()
    now = timezone.now()
    with transaction.atomic():
        AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=now)
        AccountToken.objects.create(
            user=user,
            purpose=purpose,
            email=user.email,
            token_hash=digest,
            expires_at=now + timedelta(seconds=_ttl(purpose)),
        )
    return token


def account_token_peek(*, token: str, purpose: TokenPurpose) -> AccountToken:
    """The token if it may still be used: 400 if unknown, of another purpose, used or expired."""
    found = AccountToken.objects.filter(token_hash=token_hash(token), purpose=purpose).select_related("user").first()
    if found is None or not found.user.is_active or found.user.email != found.email:
        raise ApplicationError("This link is not valid.", code="token_invalid")
    if found.used_at is not None:
        raise ApplicationError("This link has already been used.", code="token_used")
    if found.expires_at <= timezone.now():
        raise ApplicationError("This link has expired; ask for a new one.", code="token_expired")
    return found


def account_token_claim(*, token: str, purpose: TokenPurpose) -> AccountToken:
    """Use the token once (see `account_token_peek` for the refusals); a concurrent use loses."""
    found = account_token_peek(token=token, purpose=purpose)
    now = timezone.now()
    claimed = AccountToken.objects.filter(pk=found.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not claimed:
        raise ApplicationError("This link has already been used.", code="token_used")
    found.used_at = now
    return found
