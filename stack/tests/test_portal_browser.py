"""The portal in a real browser (Debian's Chromium through playwright-core) against the real stack
and the real model: a developer signs up, confirms the address from the mail, logs in with PKCE,
creates a key and copies it, uses it with the OpenAI Python SDK, chats with SmolLM2 in the
playground, finds the chat in the history and exports it as CSV, sees the call on the
dashboard, revokes the key, and the SDK is refused. Then screenshots of every route."""

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest
from openai import OpenAI

from inference.tests.test_data_plane import poll
from stack.stack import PORTAL_DIST, ROOT
from stack.testing import E2E

pytestmark = pytest.mark.stack

SCREENSHOTS = ROOT / "test-artifacts" / "portal"  # git-ignored; every route, 1280/320 px, dark/light
SCRIPT = ROOT / "frontend" / "scripts" / "portal-journey.mjs"
ROUTES = (
    "landing",
    "login",
    "signup",
    "dashboard",
    "keys",
    "playground",
    "history",
    "settings",
    "verify-email",
    "reset-password",
)


def test_it_serves_the_built_portal_beside_the_api(e2e: E2E) -> None:
    assert (PORTAL_DIST / "index.html").is_file(), "frontend/dist is missing: bin/test and bin/dev build it"
    # The mails' links (accounts/emails.py) open portal pages too.
    mails = ("/verify-email?token=t", "/reset-password", "/reset-password?token=t")
    for path in ("/", "/keys", "/auth/callback?code=x&state=y", "/settings/members", *mails):
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


class Browser:
    """One developer's Chromium profile; each step of the journey is one run of the script."""

    def __init__(self, e2e: E2E, profile: Path, email: str, password: str) -> None:
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        assert os.access(chromium, os.X_OK), "Debian's chromium is missing: bin/test installs it"
        self.env = {
            **os.environ,
            "PORTAL_URL": e2e.public,
            "PORTAL_EMAIL": email,
            "PORTAL_PASSWORD": password,
            "PROFILE": str(profile),
            "SCREENSHOT_DIR": str(SCREENSHOTS),
            "CHROMIUM": chromium,
        }
        self.problems: list[str] = []

    def step(self, name: str, **env: str) -> dict:
        run = subprocess.run(
            ["node", str(SCRIPT)],
            cwd=ROOT / "frontend",
            env={**self.env, "STEP": name, **env},
            capture_output=True,
            text=True,
            timeout=420,
        )
        assert run.returncode == 0, f"step {name}: {run.stderr[-4000:]}"
        result = json.loads(run.stdout.strip().splitlines()[-1])
        self.problems += [f"{name}: {p}" for p in result.pop("problems")]
        return dict(result)


def verification_link(e2e: E2E, email: str) -> str:
    """The link of the verification mail to ``email``, from the console email backend's output
    (the Celery worker sends mail)."""
    log = e2e.stack.log("celery-worker")
    found: list[str] = []

    def mailed() -> bool:
        text = log.read_text(errors="replace") if log.exists() else ""
        at = text.find(f"To: {email}")
        match = re.search(r"(http\S+/verify-email\?token=\S+)", text[at:]) if at >= 0 else None
        if match:
            found.append(match.group(1))
        return bool(match)

    assert poll(mailed, 60, 0.5), f"no verification mail to {email} in {log}"
    return found[0]


def test_a_developer_signs_up_uses_a_key_and_the_playground_then_revokes_the_key(e2e: E2E, tmp_path: Path) -> None:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    email, password = f"journey-{secrets.token_hex(4)}@example.com", "journey-" + secrets.token_urlsafe(12)
    marker = f"Say hello to journey {secrets.token_hex(3)}"
    browser = Browser(e2e, tmp_path / "chromium", email, password)

    # Sign up on the provider's page, reached from the portal's /signup.
    signup = browser.step("signup")
    assert "/o/signup" in signup["url"] or "mail" in signup["text"].lower(), signup

    # Verify: the browser opens the mail's link; the portal's page posts its one-time token.
    link = verification_link(e2e, email)
    assert link.startswith(e2e.public + "/verify-email?token=")
    verify = browser.step("verify", LINK=link)
    assert "Your email address is confirmed." in verify["text"], verify
    token = parse_qs(urlsplit(link).query)["token"][0]
    again = httpx.post(e2e.public + "/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "token_used", again.text
    # An address outside LLMAAS_ALLOWED_DOMAINS waits for an operator, who approves it (the
    # admin's action, through the same service).
    e2e.stack.manage(
        "shell",
        "-c",
        "from accounts.models import User; from accounts.user_services import user_approve; "
        f"user_approve(user=User.objects.get(email={email!r}), by=None)",
    )

    # Log in (PKCE), create a key that keeps chats, copy it.
    key = browser.step("key")
    assert key["signedIn"] == e2e.public + "/keys" and key["afterReload"] == e2e.public + "/keys"
    secret = key["clipboard"]
    e2e.issued.append(secret)
    assert secret.startswith("sk-") and secret == key["revealed"] and key["listed"] == 1

    # The copied key works with the OpenAI Python SDK.
    client = OpenAI(base_url=e2e.public + "/v1", api_key=secret, max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
    )
    assert reply.choices[0].message.content

    # The playground streams a reply from SmolLM2 with its own short-lived key.
    play = browser.step("playground", MARKER=marker)
    assert re.fullmatch(r"First token in \d+(\.\d+)? (ms|s)", play["firstToken"]), play
    assert play["done"].startswith("Done in") and play["reply"].strip(), play
    assert re.search(r"\d+ prompt \+ \d+ completion tokens · \$\d+\.\d{6}", play["usage"]), play
    assert "sk-" not in play["storage"]  # the key lived in memory only

    # History shows that chat; the CSV export downloads it.
    history = browser.step("history", MARKER=marker)
    assert marker in history["shown"] and history["items"] >= 1
    assert history["filename"].endswith(".csv")
    header, *rows = history["csv"].splitlines()
    assert "created_at" in header and any(marker in row for row in rows), history["csv"][:2000]

    # The dashboard's chart shows the calls: the SDK's and the playground's.
    dashboard = browser.step("dashboard", MIN_REQUESTS="2")
    assert dashboard["requests"] >= 2 and dashboard["bars"] > 0, dashboard

    # Revoke the key: the SDK call is now refused with 401.
    revoked = browser.step("revoke")
    assert revoked["hidden"] == 0 and "revoked" in revoked["row"].lower(), revoked  # behind "Show revoked"
    assert revoked["playgroundBadges"] >= 1, revoked  # the playground's own key, badged

    def refused() -> bool:
        try:
            client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        except openai.AuthenticationError as exc:
            return exc.status_code == 401
        return False

    assert poll(refused, 30, 0.5)

    # Every route at 1280 and 320 px, dark and light.
    shots = browser.step("screenshots")
    expected = {f"{r}-{w}-{t}.png" for r in ROUTES for w in (1280, 320) for t in ("dark", "light")}
    assert set(shots["files"]) == expected
    assert all((SCREENSHOTS / f).stat().st_size > 0 for f in expected)
    assert browser.problems == [], "\n".join(browser.problems)
