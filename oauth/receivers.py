"""How the authorization server follows DOT's and accounts' events, connected in OauthConfig.ready."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from accounts.models import User
from accounts.signals import user_admission_changed
from oauth.tokens import deny_on_commit


@receiver(post_delete, sender=AccessToken)
def deny_deleted_access_token(*, instance: AccessToken, **_: Any) -> None:
    """DOT deletes an access token when it is revoked (directly, with its refresh token, with the
    whole family on reuse, at RP-initiated logout): the API must stop accepting it now."""
    deny_on_commit([(instance.token_checksum, instance.expires)])


@receiver(user_admission_changed)
def revoke_tokens_of_deactivated_user(*, user: User, **_: Any) -> None:
    """A deactivated account's tokens die with it (its sessions already do)."""
    if user.is_active:
        return
    RefreshToken.objects.filter(user=user, revoked__isnull=True).update(revoked=timezone.now())
    for token in AccessToken.objects.filter(user=user):
        token.delete()
