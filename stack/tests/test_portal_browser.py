"""The portal in a real browser (Debian's Chromium through playwright-core) against the real stack:
log in through /o/login with PKCE, create a key on /keys, and call the model with its secret."""

import json
import os
import shutil
import subprocess

import httpx
import pytest
from openai import OpenAI

from stack.stack import PORTAL_DIST, ROOT
from stack.testing import E2E

pytestmark = pytest.mark.stack

SCREENSHOTS = ROOT / "test-artifacts" / "portal"  # git-ignored; every route, 1280/320 px, dark/light
SCRIPT = ROOT / "frontend" / "scripts" / "browser-smoke.mjs"


def test_it_serves_the_built_portal_beside_the_api(e2e: E2E) -> None:
    assert (PORTAL_DIST / "index.html").is_file(), "frontend/dist is missing: bin/test and bin/dev build it"
    for path in ("/", "/keys", "/auth/callback?code=x&state=y", "/settings/members"):
        page = httpx.get(e2e.public + path)
        assert page.status_code == 200 and '<div id="root">' in page.text, path
        assert page.headers["cache-control"] == "no-cache"
    asset = next(p for p in (PORTAL_DIST / "assets").iterdir() if p.suffix == ".js")
    served = httpx.get(f"{e2e.public}/assets/{asset.name}")
    assert served.status_code == 200 and served.headers["content-type"] == "application/javascript"
    assert "immutable" in served.headers["cache-control"]
    # The server's paths still reach Django and LiteLLM.
    assert httpx.get(e2e.public + "/api/auth/me").json()["error"]["code"] == "not_authenticated"
    assert httpx.get(e2e.public + "/.well-known/openid-configuration").json()["issuer"]
    assert httpx.get(e2e.public + "/v1/models").status_code == 401


def test_it_logs_in_with_pkce_creates_a_key_and_the_key_calls_the_model(e2e: E2E) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.access(chromium, os.X_OK), "Debian's chromium is missing: bin/test installs it"
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    run = subprocess.run(
        ["node", str(SCRIPT)],
        cwd=ROOT / "frontend",
        env={
            **os.environ,
            "PORTAL_URL": e2e.public,
            "PORTAL_EMAIL": e2e.stack.state["admin_email"],
            "PORTAL_PASSWORD": e2e.stack.state["admin_password"],
            "SCREENSHOT_DIR": str(SCREENSHOTS),
            "CHROMIUM": chromium,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    secret = result["secret"]
    e2e.issued.append(secret)

    assert secret.startswith("sk-")
    assert result["listed"] == 1
    assert result["afterReload"] == e2e.public + "/keys"  # silent sign-in after a reload
    assert result["problems"] == []
    assert len(result["files"]) == 24 and all((SCREENSHOTS / f).stat().st_size > 0 for f in result["files"])

    client = OpenAI(base_url=e2e.public + "/v1", api_key=secret, max_retries=0)
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
    )
    assert reply.choices[0].message.content
