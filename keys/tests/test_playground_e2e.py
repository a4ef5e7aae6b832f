"""End to end: the playground key through the live stack (nginx, Django, Redis, LiteLLM, SmolLM2):
it calls the model and stores the chat, the proxy refuses it once expired (401) and holds its
budget (429), and a new playground key retires the previous one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from inference.tests.test_data_plane import poll

pytestmark = pytest.mark.stack
CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8, "temperature": 0}


@pytest.fixture(scope="module")
def admin(e2e):
    return e2e.login()


def playground_key(e2e, admin: httpx.Client) -> dict:
    response = admin.post("/api/keys/playground")
    assert response.status_code == 201, response.text
    e2e.issued.append(response.json()["secret"])
    return dict(response.json())


def call(e2e, secret: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions",
        json=body or CHAT,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=120,
    )


def test_it_calls_the_model_with_chats_kept_and_within_its_lifetime_budget(e2e, admin):
    key = playground_key(e2e, admin)
    assert {"smollm2", "tiny"} <= {m["name"] for m in key["models"]}
    answered = call(e2e, key["secret"])
    assert answered.status_code == 200, answered.text
    effective = admin.get(f"/api/keys/{key['id']}/effective").json()
    assert [(b["scope"], b["limit_usd"], b["period"]) for b in effective["budgets"]] == [
        ("key", "0.500000", "lifetime")
    ]
    # The chat is kept (store_chats): it reaches the history through the usage pipeline.
    assert poll(lambda: bool(admin.get("/api/chats/", params={"key": key["id"]}).json()["results"]), 60, 0.5)


def test_the_proxy_refuses_an_expired_playground_key_with_401(e2e, admin):
    key = playground_key(e2e, admin)
    assert call(e2e, key["secret"]).status_code == 200
    soon = datetime.now(UTC) + timedelta(seconds=2)
    assert admin.patch(f"/api/keys/{key['id']}/", json={"expires_at": soon.isoformat()}).status_code == 200
    assert poll(lambda: call(e2e, key["secret"]).status_code == 401, 30, 0.5)
    refused = call(e2e, key["secret"]).json()["error"]
    assert "expired" in refused["message"] and key["secret"] not in refused["message"]


def test_the_proxy_holds_a_playground_keys_budget(e2e, admin):
    key = playground_key(e2e, admin)
    # A call whose worst case ($0.20/M output tokens × 8 + its prompt) is above what is left: refused.
    assert admin.patch(f"/api/keys/{key['id']}/", json={"budget_usd": "0.000001"}).status_code == 200
    assert poll(lambda: call(e2e, key["secret"]).status_code == 429, 30, 0.5)
    refused = call(e2e, key["secret"])
    assert refused.json()["error"]["code"] == "insufficient_quota"
    spent = admin.get(f"/api/keys/{key['id']}/effective").json()["budgets"][0]
    assert Decimal(spent["spent_usd"]) + Decimal(spent["reserved_usd"]) <= Decimal("0.000001")


def test_a_new_playground_key_retires_the_previous_one_at_the_proxy(e2e, admin):
    first = playground_key(e2e, admin)
    assert call(e2e, first["secret"]).status_code == 200
    second = playground_key(e2e, admin)
    assert poll(lambda: call(e2e, first["secret"]).status_code == 401, 30, 0.5)
    assert call(e2e, second["secret"]).status_code == 200
