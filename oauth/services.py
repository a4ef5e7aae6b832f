"""Writes of the authorization server."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from oauth2_provider.models import Application


def portal_redirect_uris() -> tuple[str, str]:
    """The portal's login callback and where it lands after logging out (the public origin)."""
    return f"{settings.PUBLIC_URL}/auth/callback", f"{settings.PUBLIC_URL}/"


@transaction.atomic
def portal_client_ensure() -> Application:
    """The portal's OAuth client: public (PKCE, no secret), first-party (no consent page), ID
    tokens signed RS256. Created on the stack's first start; its URIs follow the public origin."""
    callback, after_logout = portal_redirect_uris()
    app, _ = Application.objects.select_for_update().get_or_create(
        client_id=settings.PORTAL_CLIENT_ID,
        defaults={
            "name": "LLMaaS portal",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )
    app.redirect_uris = callback
    app.post_logout_redirect_uris = after_logout
    app.client_type = Application.CLIENT_PUBLIC
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.algorithm = Application.RS256_ALGORITHM
    app.skip_authorization = True
    app.full_clean()
    app.save()
    return app
