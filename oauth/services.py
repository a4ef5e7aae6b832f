"""Writes of the authorization server."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application, Grant, IDToken, RefreshToken

from accounts.context import OrgContext
from accounts.models import User
from accounts.roles import Action
from audit.models import AuditAction
from audit.services import audit_record
from keys.models import ApiKey
from keys.services import key_revoke
from llmaas.errors import ApplicationError, Conflict, NotFound
from oauth.inference_keys import app_keys_revoke
from oauth.models import OAuthApp
from oauth.selectors import grant_get


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
    # Other origins the portal is served from (`npm run dev` on :5173): callback and landing page.
    extra = [origin.rstrip("/") for origin in settings.PORTAL_EXTRA_ORIGINS]
    app.redirect_uris = " ".join([callback, *(f"{origin}/auth/callback" for origin in extra)])
    app.post_logout_redirect_uris = " ".join([after_logout, *(f"{origin}/" for origin in extra)])
    app.client_type = Application.CLIENT_PUBLIC
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.algorithm = Application.RS256_ALGORITHM
    app.skip_authorization = True
    app.full_clean()
    app.save()
    return app


# --- third-party apps of an organization (/api/organization/apps) ---------------------------------
MAX_URIS = 10
MAX_URI_LENGTH = 2000
MAX_LOGO_URL_LENGTH = 500  # OAuthApp.logo_url


@dataclass(frozen=True)
class RegisteredApp:
    app: OAuthApp
    client_secret: str | None  # a confidential app's secret, shown once (only its hash is stored)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI (None: it can). Matched exactly at /o/authorize/, so
    no wildcard, no fragment; https, or http on the loopback interface only (native apps, RFC
    8252 §7.3); production also refuses any scheme LLMAAS_OAUTH_REDIRECT_SCHEMES leaves out."""
    if not uri or len(uri) > MAX_URI_LENGTH or any(c.isspace() for c in uri):
        return f"must be a URI of at most {MAX_URI_LENGTH} characters, without spaces"
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URI"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        return "must be an absolute https URI (http only on a loopback address)"
    if scheme == "http" and not _is_loopback(host):
        return "may use http only on a loopback address (localhost, 127.0.0.1, [::1]); use https"
    if "#" in uri:
        return "must not have a fragment"
    if "*" in parts.netloc:
        return "must not have a wildcard (redirect URIs are matched exactly)"
    if "@" in parts.netloc:
        return "must not carry credentials"
    return None


def _uris(values: Iterable[str], *, field: str) -> str:
    """The URIs, checked and de-duplicated, as DOT stores them (space-separated)."""
    uris = list(dict.fromkeys(v.strip() for v in values))
    if len(uris) > MAX_URIS:
        raise ApplicationError(f"At most {MAX_URIS} URIs.", code="too_many_uris", details={"field": field})
    for uri in uris:
        problem = _uri_problem(uri)
        if problem:
            raise ApplicationError(
                f"{uri[:200]!r} {problem}.", code="invalid_redirect_uri", details={"field": field, "uri": uri[:200]}
            )
    return " ".join(uris)


def _logo(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        good = parts.scheme.lower() == "https" and bool(parts.hostname) and "@" not in parts.netloc
    except ValueError:
        good = False
    if not good or len(url) > MAX_LOGO_URL_LENGTH or any(c.isspace() for c in url):
        raise ApplicationError(
            f"The logo must be an https URL of at most {MAX_LOGO_URL_LENGTH} characters.",
            code="invalid_logo_url",
            details={"field": "logo_url"},
        )
    return url


def _full_clean(application: Application) -> None:
    """DOT's own checks (schemes it allows, RS256 needs a key): a 400 naming the field."""
    try:
        application.full_clean(exclude=["client_id", "user"])
    except ValidationError as exc:
        fields = exc.message_dict
        raise ApplicationError(
            "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items()),
            code="invalid_app",
            details={"fields": fields},
        ) from None


def _audit(action: AuditAction, ctx: OrgContext, application: Application, **details: Any) -> None:
    audit_record(
        action=action,
        actor=ctx.user,
        org_id=ctx.organization.id,
        target=application,
        details={"client_id": application.client_id, "name": application.name, **details},
    )


def app_register(
    *,
    ctx: OrgContext,
    name: str,
    client_type: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    logo_url: str = "",
) -> RegisteredApp:
    """Register a third-party app of the organization (owners and admins): authorization code
    with PKCE only, ID tokens signed RS256, a consent page for every user. A confidential app's
    secret is in the result once; DOT stores only its hash."""
    ctx.require(Action.APP_MANAGE)
    if client_type not in (Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC):
        raise ApplicationError("client_type must be confidential or public.", details={"field": "client_type"})
    if not redirect_uris:
        raise ApplicationError(
            "At least one redirect URI.", code="invalid_redirect_uri", details={"field": "redirect_uris"}
        )
    secret = generate_client_secret()
    application = Application(
        name=name,
        client_type=client_type,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM,
        redirect_uris=_uris(redirect_uris, field="redirect_uris"),
        post_logout_redirect_uris=_uris(post_logout_redirect_uris or [], field="post_logout_redirect_uris"),
        client_secret=secret,  # hashed on save (ClientSecretField); a public app's is never shown
        hash_client_secret=True,
        skip_authorization=False,
    )
    logo = _logo(logo_url)
    _full_clean(application)
    with transaction.atomic():
        application.save()
        app = OAuthApp.objects.create(
            application=application, organization=ctx.organization, created_by=ctx.user, logo_url=logo
        )
        _audit(AuditAction.OAUTH_APP_CREATED, ctx, application, client_type=client_type)
    return RegisteredApp(app, secret if client_type == Application.CLIENT_CONFIDENTIAL else None)


def _locked(ctx: OrgContext, client_id: str) -> OAuthApp:
    """The organization's app, its application row locked (404 for any other)."""
    ctx.require(Action.APP_MANAGE)
    app = (
        OAuthApp.objects.select_for_update(of=("self", "application"))
        .select_related("application", "created_by")
        .filter(organization=ctx.organization, application__client_id=client_id)
        .first()
    )
    if app is None:
        raise NotFound("No such app in this organization.", code="app_not_found")
    return app


def app_update(
    *,
    ctx: OrgContext,
    client_id: str,
    name: str | None = None,
    redirect_uris: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    logo_url: str | None = None,
) -> OAuthApp:
    """Change an app's name, URIs or logo (None: unchanged). Its type, grant and secret stay."""
    with transaction.atomic():
        app = _locked(ctx, client_id)
        application = app.application
        changed: list[str] = []
        if name is not None and name != application.name:
            application.name = name
            changed.append("name")
        for attr, values in (
            ("redirect_uris", redirect_uris),
            ("post_logout_redirect_uris", post_logout_redirect_uris),
        ):
            if values is None:
                continue
            if attr == "redirect_uris" and not values:
                raise ApplicationError(
                    "At least one redirect URI.", code="invalid_redirect_uri", details={"field": attr}
                )
            joined = _uris(values, field=attr)
            if joined != getattr(application, attr):
                setattr(application, attr, joined)
                changed.append(attr)
        if changed:
            _full_clean(application)
            application.save(update_fields=[*changed, "updated"])
        logo = _logo(logo_url) if logo_url is not None else app.logo_url
        if logo != app.logo_url:
            app.logo_url = logo
            app.save(update_fields=["logo_url"])
            changed.append("logo_url")
        if changed:
            _audit(AuditAction.OAUTH_APP_CHANGED, ctx, application, fields=changed)
    return app


def app_secret_rotate(*, ctx: OrgContext, client_id: str) -> RegisteredApp:
    """A new client secret for a confidential app, shown once; the old one stops working now
    (tokens already issued live on; refreshing them needs the new secret)."""
    with transaction.atomic():
        app = _locked(ctx, client_id)
        application = app.application
        if application.client_type != Application.CLIENT_CONFIDENTIAL:
            raise Conflict("A public app has no client secret.", code="public_app_has_no_secret")
        secret = generate_client_secret()
        application.client_secret = secret
        application.save(update_fields=["client_secret", "updated"])
        _audit(AuditAction.OAUTH_APP_SECRET_ROTATED, ctx, application)
    return RegisteredApp(app, secret)


def _tokens_revoke(*, application: Application, user: User | None = None) -> int:
    """Revoke the app's refresh tokens (of one user, or everyone's) and delete its access and ID
    tokens and unused authorization codes. Deleted access tokens are deny-listed on commit
    (oauth/receivers.py): the API refuses them at once. Returns how many tokens were live."""
    who = {"application": application} if user is None else {"application": application, "user": user}
    now = timezone.now()
    refreshed = RefreshToken.objects.filter(**who, revoked__isnull=True).update(revoked=now, updated=now)
    accessed, _ = AccessToken.objects.filter(**who).delete()  # one by one: post_delete deny-lists each
    IDToken.objects.filter(**who).delete()
    Grant.objects.filter(**who).delete()
    return refreshed + accessed


def app_delete(*, ctx: OrgContext, client_id: str) -> None:
    """Delete an app: first revoke the inference keys issued to it and every user's tokens, so
    nothing it obtained outlives it."""
    with transaction.atomic():
        application = _locked(ctx, client_id).application
        keys, tokens = app_credentials_revoke(application=application, by=ctx.user)
        _audit(AuditAction.OAUTH_APP_DELETED, ctx, application, keys_revoked=keys, sessions_revoked=tokens)
        application.delete()  # and its OAuthApp; the revoked keys keep no link to it


def app_credentials_revoke(*, application: Application, by: User | None) -> tuple[int, int]:
    """Revoke what an app holds, before it is deleted (here or in the admin): the inference keys
    issued to it and every user's tokens. Returns (keys, tokens) that were live."""
    with transaction.atomic():
        keys = list(ApiKey.objects.select_for_update().filter(oauth_application=application, revoked_at__isnull=True))
        for key in keys:
            key_revoke(key=key, by=by)
        return len(keys), _tokens_revoke(application=application)


# --- a user's grants (/api/auth/grants) ----------------------------------------------------------
def grant_revoke(*, user: User, client_id: str) -> None:
    """Take back everything the user allowed an app: its refresh, access and ID tokens, pending
    codes, and the inference keys it holds in the user's name. 404 if there is no grant."""
    grant = grant_get(user=user, client_id=client_id)
    application = grant.application
    with transaction.atomic():
        tokens = _tokens_revoke(application=application, user=user)
        keys = app_keys_revoke(user=user, application=application, actor=user)
        audit_record(
            action=AuditAction.OAUTH_GRANT_REVOKED,
            actor=user,
            target=application,
            details={
                "client_id": client_id,
                "name": application.name,
                "sessions_revoked": tokens,
                "keys_revoked": keys,
            },
        )
