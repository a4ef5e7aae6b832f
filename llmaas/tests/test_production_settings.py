"""Production refuses to start with a development secret (issue 14, item 9): the settings module
is loaded in a fresh interpreter with a production environment, as gunicorn or Celery would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from jwcrypto import jwk

ROOT = Path(__file__).resolve().parents[2]
_KEY = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
GOOD = {
    "LLMAAS_ENV": "production",
    "LLMAAS_OIDC_PRIVATE_KEY": _KEY,
    "DJANGO_SECRET_KEY": "a-real-secret-key-for-this-test-0123456789-qwertyuiopasdfghjkl",
    "LLMAAS_WEBHOOK_SECRET": "a-real-webhook-secret-0123456789",
    "LLMAAS_CELERY_BROKER_URL": "amqp://llmaas:s3cret@rabbit.internal:5672/llmaas",
    "STRIPE_WEBHOOK_SECRET": "whsec_a_real_stripe_signing_secret_0123456789",
}


def _run(code: list[str], **overrides: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMAAS_", "DJANGO_", "STRIPE_"))}
    env.update(GOOD)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, *code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _load_settings(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    return _run(["-c", "import llmaas.settings"], **overrides)


def test_it_starts_in_production_with_real_secrets():
    loaded = _load_settings()
    assert loaded.returncode == 0, loaded.stderr


@pytest.mark.parametrize(
    "overrides,named",
    [
        ({"LLMAAS_WEBHOOK_SECRET": "dev-insecure-webhook-secret"}, "LLMAAS_WEBHOOK_SECRET"),
        ({"LLMAAS_WEBHOOK_SECRET": None}, "LLMAAS_WEBHOOK_SECRET"),
        ({"STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET"),
        ({"STRIPE_WEBHOOK_SECRET": "whsec_dev_insecure_stripe_webhook_secret"}, "STRIPE_WEBHOOK_SECRET"),
        ({"DJANGO_SECRET_KEY": "dev-insecure-secret-key-do-not-use-in-production"}, "DJANGO_SECRET_KEY"),
        ({"LLMAAS_CELERY_BROKER_URL": None}, "LLMAAS_CELERY_BROKER_URL"),
        ({"LLMAAS_CELERY_BROKER_URL": "amqp://guest:guest@rabbit.internal:5672//"}, "LLMAAS_CELERY_BROKER_URL"),
        ({"LLMAAS_CELERY_BROKER_URL": "amqp://guest:other@rabbit.internal:5672//"}, "LLMAAS_CELERY_BROKER_URL"),
        ({"LLMAAS_OIDC_PRIVATE_KEY": None}, "LLMAAS_OIDC_PRIVATE_KEY"),
        ({"LLMAAS_OIDC_PRIVATE_KEY": "not a key"}, "LLMAAS_OIDC_PRIVATE_KEY"),
        (
            {"LLMAAS_OIDC_PRIVATE_KEY": None, "LLMAAS_OIDC_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
            "LLMAAS_OIDC_PRIVATE_KEY_FILE",
        ),
    ],
)
def test_it_refuses_to_start_in_production_with_a_development_secret(overrides, named):
    refused = _load_settings(**overrides)
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr and named in refused.stderr, refused.stderr


def test_it_passes_djangos_deployment_checks_in_production():
    checked = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_it_redirects_plain_http_in_production_except_probes_and_the_internal_webhook():
    code = """
import django, os
django.setup()
from django.conf import settings
settings.ALLOWED_HOSTS = ["testserver"]
from django.test import Client
client = Client()
for path in ("/api/health", "/api/webhooks/litellm", "/api/auth/me", "/admin/"):
    response = client.get(path)
    print(path, response.status_code, response.headers.get("Location", ""))
print("hsts", Client().get("/api/health", secure=True).headers.get("Strict-Transport-Security"))
"""
    done = _run(["-c", code], DJANGO_SETTINGS_MODULE="llmaas.settings")
    assert done.returncode == 0, done.stderr
    answers = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert answers["/api/health"].split()[0] != "301"
    assert answers["/api/webhooks/litellm"].split()[0] != "301"
    assert answers["/api/auth/me"] == "301 https://testserver/api/auth/me"
    assert answers["/admin/"] == "301 https://testserver/admin/"
    assert answers["hsts"] == "max-age=31536000; includeSubDomains; preload"
