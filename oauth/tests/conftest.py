"""A second, real OpenID provider for the SSO tests: another instance of this project (gunicorn) on
a free port, with a database, a signing key and a Redis prefix of its own. Its users, their
organizations (the ``groups`` claim) and its OAuth client are made with ``manage.py shell``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from stack.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DB = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Upstream:
    """The upstream provider (issuer ``url``); ``root`` owns its organizations."""

    url: str
    env: dict[str, str]
    root: str

    def shell(self, code: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def user(self, email: str, password: str, *, verified: bool = True, groups: dict[str, str] | None = None) -> None:
        """Create the user, with these memberships (organization name → role)."""
        self.shell(
            "from accounts.models import User\n"
            f"User.objects.create_user({email!r}, {password!r}, name='SSO person', verified={verified!r})\n"
        )
        self.set_groups(email, groups or {})

    def set_groups(self, email: str, groups: dict[str, str]) -> None:
        """Make the user's team memberships exactly ``groups`` (organization name → role)."""
        self.shell(
            "from accounts.models import Membership, Organization, User\n"
            "from accounts.services import membership_set, organization_create\n"
            f"user = User.objects.get(email={email!r}); root = User.objects.get(email={self.root!r})\n"
            f"groups = {groups!r}\n"
            "Membership.objects.filter(user=user, organization__personal_for__isnull=True)"
            ".exclude(organization__name__in=list(groups)).delete()\n"
            "for name, role in groups.items():\n"
            "    org = Organization.objects.filter(name=name).first() or organization_create(name=name, owner=root)\n"
            "    membership_set(organization=org, user=user, role=role)\n"
        )

    def client(self, *, redirect_uri: str) -> tuple[str, str]:
        """A confidential client (RS256 ID tokens, no consent page): (client id, secret)."""
        client_id, secret = f"downstream-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex + uuid.uuid4().hex
        self.shell(
            "from oauth2_provider.models import Application\n"
            f"Application.objects.create(name='Downstream LLMaaS', client_id={client_id!r}, "
            f"client_secret={secret!r}, client_type='confidential', "
            f"authorization_grant_type='authorization-code', redirect_uris={redirect_uri!r}, "
            "algorithm='RS256', skip_authorization=True)\n"
        )
        return client_id, secret


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DB, autocommit=True) as conn:
        conn.execute(sql)


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the upstream provider exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the upstream provider did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    run = uuid.uuid4().hex[:8]
    database = f"llmaas_sso_{run}"
    port = free_port()
    state = tmp_path_factory.mktemp("sso-upstream")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMAAS_", "DJANGO_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "llmaas.settings",
        "LLMAAS_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "LLMAAS_STATE_DIR": str(state),
        "DJANGO_STATIC_ROOT": str(state / "static"),
        "LLMAAS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LLMAAS_REDIS_PREFIX": f"llmaas-sso-{run}",
        "LLMAAS_CELERY_EAGER": "1",
        "LLMAAS_TEST_FAST_PASSWORD_HASHER": "1",
        "LLMAAS_DB_CONN_MAX_AGE": "0",
        "LLMAAS_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    _admin(f'CREATE DATABASE "{database}"')
    proc: subprocess.Popen[bytes] | None = None
    try:
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        provider = Upstream(url=env["LLMAAS_PUBLIC_URL"], env=env, root=f"root-{run}@upstream.example")
        provider.shell(
            f"from accounts.models import User; User.objects.create_user({provider.root!r}, {uuid.uuid4().hex!r})"
        )
        log = state / "gunicorn.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "llmaas.wsgi", "-b", f"127.0.0.1:{port}", "--threads", "4"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(f"{provider.url}/.well-known/openid-configuration", proc, log)
        yield provider
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def upstream_client(upstream: Upstream, live_server) -> dict[str, str]:
    """The downstream (this test run's live server) registered at the upstream provider."""
    client_id, secret = upstream.client(redirect_uri=f"{live_server.url}/o/sso/callback")
    return {"client_id": client_id, "client_secret": secret}
