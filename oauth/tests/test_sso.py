"""Enterprise SSO against a real upstream OpenID provider (another LLMaaS, see conftest.py): the
browser is an httpx client walking the redirects from this run's live server to the upstream's
login form and back, as a person's browser would. The two run on different host names
(``localhost`` here, ``127.0.0.1`` there) so that their cookies stay apart, as on two domains."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from accounts.models import Membership, Organization, User
from accounts.services import membership_set, organization_create
from audit.models import AuditAction, AuditEvent
from oauth import sso
from oauth.models import SsoGroupMapping, SsoIdentity
from oauth.tests.conftest import Upstream
from stack.processes import free_port

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sso_settings(settings, live_server, upstream, upstream_client):
    settings.PUBLIC_URL = live_server.url
    settings.SSO_ISSUER = upstream.url
    settings.SSO_CLIENT_ID = upstream_client["client_id"]
    settings.SSO_CLIENT_SECRET = upstream_client["client_secret"]
    settings.SSO_SCOPES = "openid email profile"
    settings.SSO_GROUPS_CLAIM = "groups"
    settings.SSO_TRUSTED = True
    settings.SSO_NAME = "Acme SSO"
    sso.sso_cache_clear()
    yield settings
    sso.sso_cache_clear()


def _hidden_inputs(page: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1) if value else "")
    return fields


class Browser:
    """One cookie jar for both sites, redirects followed by hand."""

    def __init__(self, downstream: str) -> None:
        self.downstream = downstream
        self.http = httpx.Client(timeout=30)

    def to_callback(self, email: str, password: str) -> str:
        """From our "Log in with SSO" link through the upstream's log-in form (and its
        authorization endpoint) to the URL of our callback, not yet visited."""
        response = self.http.get(f"{self.downstream}/o/sso/login", params={"next": "/api/auth/me"})
        for _ in range(10):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(f"{self.downstream}/o/sso/callback"):
                    return target
                response = self.http.get(target)
            elif response.status_code == 200 and 'name="password"' in response.text:
                form = {**_hidden_inputs(response.text), "email": email, "password": password}
                response = self.http.post(str(response.url), data=form)
            else:
                raise AssertionError(f"{response.url} answered {response.status_code}: {response.text[:1000]}")
        raise AssertionError("too many redirects")

    def log_in(self, email: str, password: str) -> dict:
        """The whole SSO log-in; returns what /api/auth/me says then."""
        landed = self.http.get(self.to_callback(email, password))
        assert landed.status_code == 302, landed.text[:2000]
        assert landed.headers["location"] == "/api/auth/me"
        me = self.http.get(f"{self.downstream}/api/auth/me")
        assert me.status_code == 200, me.text
        return me.json()

    def session_key(self) -> str:
        host = urlsplit(self.downstream).hostname or ""
        return next(str(c.value) for c in self.http.cookies.jar if c.name == "sessionid" and host in c.domain)


def _person(upstream: Upstream, *, verified: bool = True, groups: dict[str, str] | None = None) -> tuple[str, str]:
    email, password = f"sso-{uuid.uuid4().hex[:8]}@corp.example", f"pw-{uuid.uuid4().hex}"
    upstream.user(email, password, verified=verified, groups=groups)
    return email, password


def _roles(me: dict) -> dict[str, str]:
    return {o["name"]: o["role"] for o in me["organizations"] if not o["personal"]}


def _team(name: str) -> Organization:
    return organization_create(name=name, owner=User.objects.create_user(f"{uuid.uuid4().hex[:8]}@local.example"))


@live
def test_it_creates_the_user_with_the_mapped_role_and_reapplies_the_groups_at_each_login(
    sso_settings, live_server, upstream
):
    run = uuid.uuid4().hex[:6]
    acme, ops = f"Acme {run}", f"Ops {run}"
    research, untouched = _team(f"Research {run}"), _team(f"Untouched {run}")
    for group, role in ((f"{acme}:member", "member"), (f"{acme}:admin", "admin"), (f"{ops}:viewer", "viewer")):
        SsoGroupMapping.objects.create(group=group, organization=research, role=role)
    email, password = _person(upstream, groups={acme: "member"})

    me = Browser(live_server.url).log_in(email, password)
    assert me["email"] == email and me["name"] == "SSO person"
    assert me["status"] == "active"  # a trusted provider: approved, address verified
    assert _roles(me) == {research.name: "member"}
    assert [o["personal"] for o in me["organizations"]].count(True) == 1
    user = User.objects.get(email=email)
    assert not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).groups == [f"{acme}:member"]
    membership_set(organization=untouched, user=user, role="billing")  # no mapping there: never touched

    upstream.set_groups(email, {acme: "admin", ops: "viewer"})
    me = Browser(live_server.url).log_in(email, password)
    assert _roles(me) == {research.name: "admin", untouched.name: "billing"}  # the highest mapped role

    upstream.set_groups(email, {ops: "viewer"})
    me = Browser(live_server.url).log_in(email, password)
    assert _roles(me) == {research.name: "viewer", untouched.name: "billing"}

    upstream.set_groups(email, {})
    me = Browser(live_server.url).log_in(email, password)
    assert _roles(me) == {untouched.name: "billing"}  # the group went, so did the membership
    assert User.objects.filter(email=email).count() == 1
    trail = list(
        AuditEvent.objects.filter(org_id=research.id, target_id=str(user.pk)).order_by("id").values_list("action")
    )
    assert [a for (a,) in trail] == [
        AuditAction.MEMBER_JOINED,
        AuditAction.MEMBER_ROLE_CHANGED,
        AuditAction.MEMBER_ROLE_CHANGED,
        AuditAction.MEMBER_REMOVED,
    ]
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor_id=user.pk).count() == 4


@live
def test_it_gives_an_unmapped_user_only_a_personal_organization(sso_settings, live_server, upstream):
    _team(f"Mapped {uuid.uuid4().hex[:6]}")
    SsoGroupMapping.objects.create(group="someone-else:admin", organization=Organization.objects.last(), role="admin")
    email, password = _person(upstream, groups={f"Elsewhere {uuid.uuid4().hex[:6]}": "admin"})

    me = Browser(live_server.url).log_in(email, password)
    assert [(o["personal"], o["role"]) for o in me["organizations"]] == [(True, "owner")]


@live
def test_it_refuses_a_tampered_state(sso_settings, live_server, upstream):
    email, password = _person(upstream)
    browser = Browser(live_server.url)
    callback = urlsplit(browser.to_callback(email, password))
    query = dict(parse_qsl(callback.query))
    query["state"] = query["state"][:-2] + "xx"
    answer = browser.http.get(urlunsplit(callback._replace(query=urlencode(query))))
    assert answer.status_code == 400
    assert "does not match the one started here" in answer.text
    assert browser.http.get(f"{live_server.url}/api/auth/me").status_code in (401, 403)
    assert not User.objects.filter(email=email).exists()


@live
def test_it_refuses_an_id_token_with_another_nonce(sso_settings, live_server, upstream):
    email, password = _person(upstream)
    browser = Browser(live_server.url)
    callback = browser.to_callback(email, password)
    session = SessionStore(session_key=browser.session_key())
    session[sso.SESSION_KEY] = {**session[sso.SESSION_KEY], "nonce": "another-nonce"}
    session.save()
    answer = browser.http.get(callback)
    assert answer.status_code == 502
    assert "could not be verified" in answer.text
    assert not User.objects.filter(email=email).exists()


@live
def test_an_untrusted_provider_leaves_a_new_user_pending_approval(sso_settings, live_server, upstream):
    sso_settings.SSO_TRUSTED = False
    email, password = _person(upstream)
    me = Browser(live_server.url).log_in(email, password)
    assert me["status"] == "pending_approval"
    assert me["approved"] is False
    assert me["email_verified"] is True  # the provider said so


@live
def test_it_links_an_existing_account_only_when_the_provider_confirms_the_address(sso_settings, live_server, upstream):
    sso_settings.SSO_TRUSTED = False
    email, password = _person(upstream, verified=False)
    local = User.objects.create_user(email, "local-password")

    browser = Browser(live_server.url)
    answer = browser.http.get(browser.to_callback(email, password))
    assert answer.status_code == 403
    assert "already exists here" in answer.text
    assert not SsoIdentity.objects.filter(user=local).exists()

    upstream.shell(
        "from django.utils import timezone; from accounts.models import User\n"
        f"User.objects.filter(email={email!r}).update(email_verified_at=timezone.now())\n"
    )
    me = Browser(live_server.url).log_in(email, password)
    assert me["id"] == str(local.pk)
    assert SsoIdentity.objects.filter(user=local).count() == 1
    local.refresh_from_db()
    assert local.has_usable_password()  # linking keeps the password


@live
def test_it_keeps_the_last_owner_whose_group_went_away(sso_settings, live_server, upstream):
    run = uuid.uuid4().hex[:6]
    team = _team(f"Solo {run}")
    SsoGroupMapping.objects.create(group=f"Founders {run}:owner", organization=team, role="owner")
    email, password = _person(upstream, groups={f"Founders {run}": "owner"})
    me = Browser(live_server.url).log_in(email, password)
    assert _roles(me) == {team.name: "owner"}
    Membership.objects.filter(organization=team).exclude(user__email=email).delete()  # now the only owner

    upstream.set_groups(email, {})
    me = Browser(live_server.url).log_in(email, password)
    assert _roles(me) == {team.name: "owner"}
    sign_in = AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor_email=email).order_by("-id").first()
    assert sign_in is not None and sign_in.details["kept_last_owner_of"] == [team.name]


@pytest.mark.django_db
def test_it_answers_502_when_the_provider_is_down(settings):
    settings.SSO_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.SSO_CLIENT_ID, settings.SSO_CLIENT_SECRET = "x", "y"
    sso.sso_cache_clear()
    answer = Client().get("/o/sso/login")
    assert answer.status_code == 502
    assert b"cannot be reached" in answer.content


@pytest.mark.django_db
def test_the_login_page_offers_sso_only_when_it_is_set_up(settings):
    settings.SSO_ISSUER, settings.SSO_NAME = "", "Acme SSO"
    assert b"Log in with Acme SSO" not in Client().get("/o/login").content
    assert Client().get("/o/sso/callback").status_code == 404
    settings.SSO_ISSUER = "http://127.0.0.1:9"
    page = Client().get("/o/login?next=/portal").content.decode()
    assert "Log in with Acme SSO" in page
    assert 'href="/o/sso/login?next=/portal"' in page


@pytest.mark.django_db
def test_operators_manage_mappings_and_see_identities_in_the_admin(make_user):
    operator = User.objects.create_superuser(email=f"ops-{uuid.uuid4().hex[:6]}@ops.test", password=None)
    client = Client()
    client.force_login(operator)
    team = _team("Research")
    added = client.post(
        "/admin/oauth/ssogroupmapping/add/", {"group": "corp:admins", "organization": str(team.pk), "role": "admin"}
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    assert SsoGroupMapping.objects.filter(group="corp:admins", organization=team, role="admin").exists()
    personal = make_user("alice").personal_organization
    refused = client.post(
        "/admin/oauth/ssogroupmapping/add/", {"group": "corp:x", "organization": str(personal.pk), "role": "admin"}
    )
    assert refused.status_code == 200  # the form again: a personal organization has no other members
    assert not SsoGroupMapping.objects.filter(group="corp:x").exists()
    SsoIdentity.objects.create(issuer="https://idp.example", subject="s-1", user=operator, groups=["corp:admins"])
    listing = client.get("/admin/oauth/ssoidentity/", {"q": operator.email[:6]})
    assert listing.status_code == 200 and b"s-1" in listing.content
    assert client.get("/admin/oauth/ssoidentity/add/").status_code == 403
