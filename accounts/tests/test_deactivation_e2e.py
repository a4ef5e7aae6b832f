"""End to end: an operator deactivates a user in the real admin site (over HTTP, through nginx);
the user's personal-organization key is refused by the proxy shortly after, while the
organization key the same user created keeps working; reactivating brings the personal key back."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from inference.tests.test_data_plane import CHAT, poll, post_chat

pytestmark = pytest.mark.stack
TINY = {**CHAT, "model": "tiny", "max_tokens": 1}
# Design target: within about a second; polled with generous headroom, never asserted as latency.
TIMEOUT = 15


def admin_session(e2e) -> httpx.Client:
    """The stack's operator, logged in to /admin/ with the login form (CSRF and all)."""
    client = httpx.Client(base_url=e2e.public, timeout=30)
    form = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    response = client.post(
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": e2e.stack.state["admin_email"],
            "password": e2e.stack.state["admin_password"],
            "next": "/admin/",
        },
    )
    assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text[:500]
    return client


def admin_action(client: httpx.Client, action: str, user_id: str) -> None:
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200, page.text[:500]
    response = client.post(
        "/admin/accounts/user/",
        data={
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
            "action": action,
            "_selected_action": user_id,
            "index": "0",
        },
    )
    assert response.status_code == 302, response.text[:500]


def test_deactivating_a_user_in_the_admin_stops_their_personal_keys_only(e2e):
    email, password = f"dave-{uuid.uuid4().hex[:6]}@example.com", "pw-" + uuid.uuid4().hex
    out = e2e.stack.manage(
        "shell",
        "-c",
        "from accounts.models import Organization, User; from accounts.services import membership_set; "
        f"u = User.objects.create_user(email={email!r}, password={password!r}); "
        f"membership_set(organization=Organization.objects.get(pk={e2e.stack.state['demo_org_id']!r}), "
        "user=u, role='member'); print(u.pk)",
    )
    dave_id = out.strip().splitlines()[-1]
    dave = e2e.login(email, password)
    personal = str(e2e.create_key(dave, name="dave personal", models=["tiny"])["secret"])
    dave.headers["LLMaaS-Organization"] = e2e.stack.state["demo_org_id"]
    team = str(e2e.create_key(dave, name="dave in demo", models=["tiny"])["secret"])
    for key in (personal, team):
        assert poll(lambda key=key: post_chat(e2e, key, TINY).status_code == 200, timeout=TIMEOUT)

    operator = admin_session(e2e)
    admin_action(operator, "deactivate_users", dave_id)

    def personal_refused_team_served() -> bool:
        refused = post_chat(e2e, personal, TINY)
        if refused.status_code != 401:
            return False
        assert refused.json()["error"]["code"] == "invalid_api_key"
        served = post_chat(e2e, team, TINY)
        assert served.status_code == 200, served.text  # keys outlive their creator
        return True

    assert poll(personal_refused_team_served, timeout=TIMEOUT, every=0.1)
    assert dave.get("/api/auth/me").status_code == 401  # his session ended too
    assert e2e.sql("SELECT is_active FROM accounts_user WHERE id = %s", dave_id) == [(False,)]

    admin_action(operator, "reactivate_users", dave_id)
    assert poll(lambda: post_chat(e2e, personal, TINY).status_code == 200, timeout=TIMEOUT)
    assert post_chat(e2e, team, TINY).status_code == 200
    actions = [
        row[0]
        for row in e2e.sql(
            "SELECT action FROM audit_auditevent WHERE target_id = %s AND action LIKE 'user.%%' ORDER BY id", dave_id
        )
    ]
    assert actions == ["user.deactivated", "user.reactivated"]
