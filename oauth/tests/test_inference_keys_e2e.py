"""End to end through nginx with a real HTTP client: "Sign in with LLMaaS" keys. An app registered
through /api/organization/apps asks for the ``inference`` scope; the user logs in with the login
form, picks the organization, the model (smollm2) and a $0.01 budget on the consent page; the app
exchanges the code at /o/token/ and gets the key with its tokens. The key serves the OpenAI SDK, is
refused for another catalog model (403) and past its budget (429); revoking the app's grant
(DELETE /api/auth/grants/<client_id>) makes both LiteLLM workers refuse it (401)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

import httpx
import openai
import pytest

from inference.tests.test_data_plane import CHAT, poll, post_chat
from oauth.tests.pkce import Pkce, query_of
from stack.testing import session

pytestmark = pytest.mark.stack
REDIRECT = "http://127.0.0.1:7778/callback"
# Design target: a revoked key is refused everywhere within 1 s; polled with generous headroom.
TIMEOUT = 15
SMALL = {**CHAT, "max_tokens": 1}


def _inputs(html: str) -> dict[str, str]:
    """The form's hidden inputs (the authorization request, the CSRF token)."""
    fields = {}
    for tag in re.findall(r'<input type="hidden"[^>]*>', html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1).replace("&amp;", "&") if value else ""
    return fields


@pytest.fixture(scope="module")
def dana(e2e) -> dict[str, str]:
    """dana, an approved user, and the app she registered in her personal organization."""
    run = uuid.uuid4().hex[:6]
    email, password = f"dana-{run}@example.com", f"pw-dana-{run}"
    out = e2e.stack.manage(
        "shell",
        "-c",
        "import json; from accounts.models import User\n"
        f"u = User.objects.create_user(email={email!r}, password={password!r})\n"
        "print(json.dumps({'org': str(u.personal_organization.pk)}))",
    )
    org = json.loads(out.strip().splitlines()[-1])["org"]
    api = session(e2e.public, email, password)
    registered = api.post(
        "/api/organization/apps",
        json={"name": f"Notebook {run}", "client_type": "public", "redirect_uris": [REDIRECT]},
    )
    assert registered.status_code == 201, registered.text
    app = registered.json()
    return {"email": email, "password": password, "org": org, "client_id": app["client_id"], "app": app["name"]}


def sign_in_with_llmaas(e2e, dana: dict[str, str], pkce: Pkce) -> dict[str, str]:
    """The browser's trip (authorize → login form → consent with a key) and the app's exchange."""
    browser = httpx.Client(base_url=e2e.public, timeout=30)
    params = pkce.authorize_params(client_id=dana["client_id"], redirect_uri=REDIRECT, scope="openid inference")
    first = browser.get("/o/authorize/", params=params)
    assert first.status_code == 302 and first.headers["location"].startswith("/o/login?next="), first.text[:300]
    login = browser.get(first.headers["location"])
    logged_in = browser.post(
        first.headers["location"],
        data={**_inputs(login.text), "email": dana["email"], "password": dana["password"]},
    )
    assert logged_in.status_code == 302, logged_in.text[:500]
    page = browser.get(logged_in.headers["location"])
    assert page.status_code == 200, page.text[:500]
    assert f'<option value="{dana["org"]}"' in page.text and 'value="smollm2"' in page.text
    answer = browser.post(
        "/o/authorize/?" + urlencode(params),
        data={
            **_inputs(page.text),
            "organization": dana["org"],
            "models": ["smollm2"],
            "budget_usd": "0.01",
            "allow": "Authorize",
        },
    )
    assert answer.status_code == 302 and answer.headers["location"].startswith(REDIRECT), answer.text[:1000]
    code = query_of(answer.headers["location"])["code"]
    tokens = httpx.post(
        f"{e2e.public}/o/token/",
        data=pkce.token_params(code=code, client_id=dana["client_id"], redirect_uri=REDIRECT),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return dict(tokens.json())


def test_the_key_an_app_gets_serves_its_models_within_its_budget_until_the_grant_is_revoked(e2e, dana):
    """Past the budget: admission reserves each request's worst case (its prompt bounded by the
    body's bytes at $0.10/Mtok, plus max_tokens at $0.20/Mtok) before the call, and refuses (429)
    one that the key's remaining budget cannot cover. A prompt of 120,000 bytes may cost up to
    $0.012 on smollm2, more than the whole $0.01 cap, so it is refused without reaching the model
    (spending $0.01 with small calls would take thousands of them); small calls still pass."""
    tokens = sign_in_with_llmaas(e2e, dana, Pkce())
    key = tokens["llmaas_api_key"]
    assert key.startswith("sk-") and tokens["access_token"]
    e2e.issued.append(key)  # audited with the other secrets: never in a log

    sdk = openai.OpenAI(base_url=e2e.public + "/v1", api_key=key, max_retries=0, timeout=60)
    reply = sdk.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8
    )
    assert reply.choices[0].message.content is not None and reply.usage is not None

    other = post_chat(e2e, key, {**SMALL, "model": "tiny"})
    assert other.status_code == 403, other.text
    assert other.json()["error"]["code"] == "model_not_allowed"

    big = {**SMALL, "messages": [{"role": "user", "content": "a " * 60_000}]}
    refused = post_chat(e2e, key, big)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert "Budget exceeded for API key" in refused.json()["error"]["message"]
    assert post_chat(e2e, key, SMALL).status_code == 200

    api = session(e2e.public, dana["email"], dana["password"])
    mine = next(k for k in api.get("/api/keys/").json()["results"] if k["id"] == tokens["llmaas_api_key_id"])
    assert mine["app"] == {"client_id": dana["client_id"], "name": dana["app"]}
    assert mine["name"] == f"{dana['app']} (Sign in with LLMaaS)"
    assert mine["budget_usd"] == "0.010000" and mine["models"] == ["smollm2"] and not mine["revoked"]

    workers: set[str] = set()

    def warm() -> bool:  # each LiteLLM worker, reached directly, has admitted (and cached) the key
        response = post_chat(e2e, key, SMALL, base=e2e.litellm)
        assert response.status_code == 200, response.text
        workers.add(response.headers["x-llmaas-worker"])
        return len(workers) == 2

    assert poll(warm, timeout=60, every=0), f"saw only workers {workers}"
    assert api.delete(f"/api/auth/grants/{dana['client_id']}").status_code == 204

    def refused_everywhere() -> bool:
        refusals: dict[str, int] = {}
        for _ in range(40):
            response = post_chat(e2e, key, SMALL, base=e2e.litellm)
            if response.status_code != 401:
                return False
            refusals[response.headers["x-llmaas-worker"]] = refusals.get(response.headers["x-llmaas-worker"], 0) + 1
        return set(refusals) == workers

    assert poll(refused_everywhere, timeout=TIMEOUT, every=0.05)
    assert post_chat(e2e, key, SMALL).status_code == 401  # through nginx too
    listed = api.get("/api/keys/").json()["results"]
    assert next(k for k in listed if k["id"] == tokens["llmaas_api_key_id"])["revoked"] is True
