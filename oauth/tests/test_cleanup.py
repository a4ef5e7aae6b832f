"""Expired OAuth rows go; a revoked refresh token stays while it could have lived, so its late
reuse still revokes the family."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from oauth.cleanup import oauth_rows_expire

pytestmark = pytest.mark.django_db


def test_it_deletes_what_expired_and_keeps_recently_revoked_refresh_tokens(make_user):
    alice = make_user("alice")
    app = Application.objects.create(
        name="a",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="https://a.example/cb",
    )
    now = timezone.now()
    Grant.objects.create(
        user=alice, application=app, code="old", expires=now - timedelta(minutes=1), redirect_uri="https://a.example/cb"
    )
    Grant.objects.create(
        user=alice, application=app, code="new", expires=now + timedelta(minutes=1), redirect_uri="https://a.example/cb"
    )
    expired = AccessToken.objects.create(user=alice, application=app, token="t1", expires=now - timedelta(seconds=1))
    live = AccessToken.objects.create(user=alice, application=app, token="t2", expires=now + timedelta(minutes=5))
    recent = RefreshToken.objects.create(user=alice, application=app, token="r1", revoked=now - timedelta(days=1))
    ancient = RefreshToken.objects.create(user=alice, application=app, token="r2", revoked=now - timedelta(days=60))
    counts = oauth_rows_expire()
    assert counts["grants"] == 1 and counts["access_tokens"] == 1 and counts["refresh_tokens"] == 1
    assert list(Grant.objects.values_list("code", flat=True)) == ["new"]
    assert not AccessToken.objects.filter(pk=expired.pk).exists() and AccessToken.objects.filter(pk=live.pk).exists()
    assert (
        RefreshToken.objects.filter(pk=recent.pk).exists() and not RefreshToken.objects.filter(pk=ancient.pk).exists()
    )
    assert oauth_rows_expire() == {"grants": 0, "refresh_tokens": 0, "access_tokens": 0, "id_tokens": 0}
