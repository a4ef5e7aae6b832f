"""The authorization server's pages look like the portal (dark first, light when the system
prefers it) and stay accessible: every field has its label, focus is visible, a field's errors
are tied to it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_redis(redis_client):
    yield


def _labels_match_fields(html: str) -> None:
    fields = re.findall(r'<(?:input|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    assert fields and set(fields) <= labelled, (fields, labelled)


@pytest.mark.parametrize("path", ["/o/login", "/o/signup"])
def test_it_renders_dark_first_with_a_light_scheme_and_labelled_fields(path: str) -> None:
    page = Client().get(path)
    assert page.status_code == 200
    html = page.content.decode()
    css = html[html.index("<style>") : html.index("</style>")]
    root, light = css.split("@media (prefers-color-scheme: light)", 1)
    assert "color-scheme: dark" in root and "--bg: #0f1115" in root  # the portal's dark palette by default
    assert "color-scheme: light" in light and "--bg: #f7f8fa" in light
    assert ":focus-visible" in css
    assert '<meta name="color-scheme" content="dark light">' in html
    _labels_match_fields(html)


def test_it_ties_a_field_s_errors_to_the_field() -> None:
    client = Client()
    page = client.get("/o/login")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token
    form = {"email": "not-an-address", "password": "x", "csrfmiddlewaretoken": token.group(1)}
    answer = client.post("/o/login", form)
    html = answer.content.decode()
    assert answer.status_code == 400
    assert re.search(r'id="id_email" aria-invalid="true" aria-describedby="id_email_errors"', html)
    assert re.search(r'<div id="id_email_errors"><p class="error">Enter a valid email address', html)


def test_the_login_page_links_to_the_portal_s_password_reset() -> None:
    html = Client().get("/o/login").content.decode()
    assert '<a href="/reset-password">Forgot your password?</a>' in html
