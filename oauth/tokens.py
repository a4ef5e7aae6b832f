"""Access tokens of the authorization server: JWTs signed with the active key (`llmaas.bearer`),
and their deny-listing when DOT deletes them (revocation, refresh-token reuse, logout, a revoked
grant), so the API refuses a killed token at once instead of at its expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from llmaas.bearer import access_token_encode, access_tokens_deny


def access_token_generator(request: Any, refresh_token: bool = False) -> str:
    """DOT's ``ACCESS_TOKEN_GENERATOR``: called by oauthlib with the validated token request
    (``request.user``, ``request.client_id``, ``request.scopes``, ``request.expires_in`` set)."""
    token, _ = access_token_encode(
        keys=settings.OIDC_SIGNING_KEYS,
        user_id=str(request.user.pk),
        client_id=str(request.client_id),
        scopes=list(request.scopes or []),
        lifetime=int(request.expires_in),
    )
    return token


def deny_on_commit(tokens: list[tuple[str, datetime]]) -> None:
    """After the commit, deny-list these access tokens (checksum, expiry) in Redis."""
    entries = [(checksum, int(expires.timestamp())) for checksum, expires in tokens if checksum]
    if entries:
        transaction.on_commit(lambda: access_tokens_deny(entries))
