"""Reads of the authorization server: an organization's OAuth apps, and the apps a user has
authorized (their grants)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, IDToken, RefreshToken

from accounts.context import OrgContext
from accounts.models import User
from accounts.roles import Action
from keys.models import ApiKey
from llmaas.errors import NotFound
from llmaas.scopes import INFERENCE, SCOPES
from oauth.models import OAuthApp


def apps_list(*, ctx: OrgContext) -> QuerySet[OAuthApp]:
    """The organization's registered apps (owners and admins)."""
    ctx.require(Action.APP_MANAGE)
    return OAuthApp.objects.filter(organization=ctx.organization).select_related("application", "created_by")


def app_get(*, ctx: OrgContext, client_id: str) -> OAuthApp:
    """One of the organization's apps; 404 for any other (another organization's included)."""
    ctx.require(Action.APP_MANAGE)
    app = apps_list(ctx=ctx).filter(application__client_id=client_id).first()
    if app is None:
        raise NotFound("No such app in this organization.", code="app_not_found")
    return app


@dataclass
class Grant:
    """What a user has allowed one app: its live tokens' scopes and the inference keys it holds."""

    application: Application
    organization: str | None = None  # the name of the organization that registered the app
    logo_url: str = ""
    scopes: list[str] = field(default_factory=list)
    first_authorized_at: datetime | None = None
    last_authorized_at: datetime | None = None
    keys: int = 0  # live inference keys issued to the app in the user's name

    @property
    def client_id(self) -> str:
        return str(self.application.client_id)

    @property
    def name(self) -> str:
        return str(self.application.name)


def _live_app_ids(user: User, client_id: str | None) -> tuple[dict[int, set[str]], dict[int, int]]:
    """(application id → scopes of the live tokens, application id → live keys) of the user."""
    only, only_keys = Q(), Q()
    if client_id is not None:
        only, only_keys = Q(application__client_id=client_id), Q(oauth_application__client_id=client_id)
    now = timezone.now()
    refresh_alive = Q(revoked__isnull=True, created__gt=now - timedelta(seconds=settings.OAUTH_REFRESH_TOKEN_SECONDS))
    scopes: dict[int, set[str]] = {}
    # An access token counts while it lives, or while the refresh token bound to it does (its
    # scope is what a refresh would get).
    tokens = AccessToken.objects.filter(only, user=user).filter(
        Q(expires__gt=now) | Q(refresh_token__in=RefreshToken.objects.filter(refresh_alive))
    )
    for app_id, scope in tokens.values_list("application_id", "scope"):
        scopes.setdefault(app_id, set()).update(scope.split())
    for app_id in RefreshToken.objects.filter(only, refresh_alive, user=user).values_list("application_id", flat=True):
        scopes.setdefault(app_id, set())
    keys = dict(
        ApiKey.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            only_keys,
            created_by=user,
            oauth_application__isnull=False,
            revoked_at__isnull=True,
        )
        .values("oauth_application_id")
        .annotate(n=Count("id"))
        .values_list("oauth_application_id", "n")
    )
    return scopes, keys


def _spans(user: User, app_ids: Iterable[int]) -> dict[int, tuple[datetime, datetime]]:
    """The first and the last time each app obtained a token or a key in the user's name (every
    sign-in and every refresh leaves one; revoked refresh tokens are kept a while)."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    ids = list(app_ids)
    sources: list[tuple[QuerySet[Any], str, str]] = [
        (RefreshToken.objects.filter(user=user, application_id__in=ids), "application_id", "created"),
        (AccessToken.objects.filter(user=user, application_id__in=ids), "application_id", "created"),
        (IDToken.objects.filter(user=user, application_id__in=ids), "application_id", "created"),
        (ApiKey.objects.filter(created_by=user, oauth_application_id__in=ids), "oauth_application_id", "created_at"),
    ]
    for queryset, app_field, time_field in sources:
        rows = queryset.values(app_field).annotate(first=Min(time_field), last=Max(time_field))
        for row in rows.values_list(app_field, "first", "last"):
            app_id, first, last = row
            if app_id in spans:
                first, last = min(first, spans[app_id][0]), max(last, spans[app_id][1])
            spans[app_id] = (first, last)
    return spans


def _ordered(scopes: set[str]) -> list[str]:
    return [s for s in SCOPES if s in scopes] + sorted(scopes - SCOPES.keys())


def grants_of(*, user: User, client_id: str | None = None) -> list[Grant]:
    """The third-party apps the user has authorized and not revoked: with a live access or refresh
    token, or holding a live inference key issued in the user's name; the most recent first.
    First-party apps (the portal: no consent page) are not grants."""
    scopes, keys = _live_app_ids(user, client_id)
    ids = set(scopes) | set(keys)
    if not ids:
        return []
    applications = Application.objects.filter(pk__in=ids, skip_authorization=False)
    owners = {
        a.application_id: a for a in OAuthApp.objects.filter(application_id__in=ids).select_related("organization")
    }
    spans = _spans(user, ids)
    grants = []
    for application in applications:
        owner = owners.get(application.pk)
        granted = scopes.get(application.pk, set()) | ({INFERENCE} if keys.get(application.pk) else set())
        first, last = spans.get(application.pk, (None, None))
        grants.append(
            Grant(
                application=application,
                organization=owner.organization.name if owner else None,
                logo_url=owner.logo_url if owner else "",
                scopes=_ordered(granted),
                first_authorized_at=first,
                last_authorized_at=last,
                keys=keys.get(application.pk, 0),
            )
        )
    return sorted(grants, key=lambda g: (g.last_authorized_at or timezone.now(), g.application.pk), reverse=True)


def grant_get(*, user: User, client_id: str) -> Grant:
    """The user's grant to this app; 404 if they have none (or no such app)."""
    found = grants_of(user=user, client_id=client_id)
    if not found:
        raise NotFound("You have not authorized this app (or no longer).", code="grant_not_found")
    return found[0]
