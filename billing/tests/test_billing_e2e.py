"""Billing through the live stack (nginx → LiteLLM → our hooks → llama-server; Django, Celery
beat, the shipper), with "Stripe" a local server speaking its API at the stack's STRIPE_API_BASE.

A prepaid organization with one cent: 20 concurrent calls, at most one admitted (the wallet is
checked in the admission script), the ledger never below minus one reservation and, once the
call is settled, shipped and posted by beat, equal to its request_logs cost; then a Checkout
top-up (a signed checkout.session.completed through the public origin) credits once and the
402 turns into a 200."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis

from billing.tests.stripe_server import FakeStripe, start
from inference.proxy.admission import prompt_upper_bound
from inference.proxy.contract import RedisKeys
from stack.testing import E2E_STRIPE_WEBHOOK_SECRET

pytestmark = pytest.mark.stack
PRICE_IN, PRICE_OUT = 1500, 2500  # nano-USD per token of "tiny" (stack/testing.py: $1.5 / $2.5 per million)
MULTIPLIER = 8


def body(max_tokens: int) -> dict[str, Any]:
    return {"model": "tiny", "messages": [{"role": "user", "content": "Count to three."}], "max_tokens": max_tokens}


def reservation(b: dict[str, Any]) -> int:
    """Nano-USD the wallet holds for the call (admission.worst_case × the multiplier)."""
    return (prompt_upper_bound(b) * PRICE_IN + b["max_tokens"] * PRICE_OUT) * MULTIPLIER


@pytest.fixture(scope="module")
def stripe_local(e2e) -> Any:
    fake = start(E2E_STRIPE_WEBHOOK_SECRET, port=e2e.stripe_port)
    yield fake
    assert fake.server is not None
    fake.server.shutdown()


@pytest.fixture(scope="module")
def prepaid(e2e, stripe_local) -> dict[str, Any]:
    """A new organization of the admin's on the prepaid plan at 8 × list price with one cent."""
    session = e2e.login()
    org = session.post("/api/organizations/", json={"name": "Prepaid e2e"})
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    session.headers["LLMaaS-Organization"] = org_id
    assert session.put("/api/billing/plan", json={"plan": "prepaid"}).status_code == 200
    update = "UPDATE billing_accounts SET price_multiplier = %s WHERE organization_id = %s RETURNING 1"
    assert e2e.sql(update, MULTIPLIER, org_id) == [(1,)]
    code = (
        "INSERT INTO billing_redemption_codes (code, amount, max_uses, uses, created_at) VALUES (%s, 0.01, 1, 0, now())"
    )
    e2e.sql(code + " RETURNING 1", f"CENT-{org_id}")
    redeemed = session.post("/api/billing/redeem", json={"code": f"CENT-{org_id}"})
    assert redeemed.status_code == 200, redeemed.text
    key = e2e.create_key(session, name="prepaid")
    return {"session": session, "org_id": org_id, "secret": key["secret"]}


def call(e2e: Any, secret: str, b: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions", json=b, headers={"Authorization": f"Bearer {secret}"}, timeout=60
    )


def ledger(e2e: Any, org_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """(balance, usage posted at list price, request_logs cost) of the organization."""
    rows = e2e.sql(
        "SELECT (SELECT coalesce(sum(amount), 0) FROM billing_ledger WHERE organization_id = %s), "
        "(SELECT coalesce(sum(list_cost), 0) FROM billing_ledger WHERE organization_id = %s AND kind = 'usage'), "
        "(SELECT coalesce(sum(cost), 0) FROM request_logs WHERE org_id = %s)",
        org_id,
        org_id,
        org_id,
    )
    balance, posted, logged = rows[0]
    return Decimal(str(balance)), Decimal(str(posted)), Decimal(str(logged))


def test_one_cent_admits_at_most_one_of_20_concurrent_calls(e2e, prepaid):
    # The largest cap whose reservation fits in a cent: two never do.
    small = body(1)
    small["max_tokens"] = (9_000_000 // MULTIPLIER - prompt_upper_bound(small) * PRICE_IN) // PRICE_OUT
    held = reservation(small)
    assert 5_000_000 < held < 10_000_000, held
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: call(e2e, prepaid["secret"], small), range(20)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) <= 1 and statuses.count(200) + statuses.count(402) == 20, statuses
    refusal = next(a for a in answers if a.status_code == 402).json()["error"]
    assert refusal["code"] == "insufficient_balance" and refusal["type"] == "insufficient_balance"
    assert "Top up" in refusal["message"]

    # Settled, shipped to request_logs and posted by beat: the ledger equals the calls' cost.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        balance, posted, logged = ledger(e2e, prepaid["org_id"])
        if statuses.count(200) == 0 or (logged > 0 and posted == logged):
            break
        time.sleep(0.5)
    assert posted == logged, (posted, logged)
    assert balance == Decimal("0.01") - MULTIPLIER * logged
    assert balance >= -Decimal(held) / 10**9
    # The wallet in Redis charged at settle what the ledger posted (tiny's prices are whole nano-USD).
    config = e2e.stack.config
    wallet = redis.Redis.from_url(config.redis_url).hgetall(RedisKeys(config.redis_prefix).wallet(prepaid["org_id"]))
    assert int(wallet[b"spent"]) == MULTIPLIER * logged * 10**9 and int(wallet[b"reserved"]) == 0, wallet


def test_a_checkout_topup_credits_once_and_the_402_turns_into_200(e2e, prepaid, stripe_local: FakeStripe):
    large = body(512)  # its reservation (over a cent at 8 × list price) cannot fit before the top-up
    assert reservation(large) > 10_000_000
    refused = call(e2e, prepaid["secret"], large)
    assert refused.status_code == 402, refused.text
    session = prepaid["session"]
    started = session.post("/api/billing/topup", json={"amount_usd": "5.00"})
    assert started.status_code == 201, started.text
    event = stripe_local.complete(started.json()["id"])
    delivered = stripe_local.deliver(f"{e2e.public}/api/webhooks/stripe", event)  # through nginx
    at = time.monotonic()
    assert delivered.status_code == 200, delivered.text
    config = e2e.stack.config
    wallet = RedisKeys(config.redis_prefix).wallet(prepaid["org_id"])
    store = redis.Redis.from_url(config.redis_url)
    while int(store.hget(wallet, "credit") or 0) < 5 * 10**9 and time.monotonic() - at < 10:
        time.sleep(0.01)
    credited = time.monotonic() - at
    while True:
        answer = call(e2e, prepaid["secret"], large)
        if answer.status_code == 200 or time.monotonic() - at > 10:
            break
        time.sleep(0.05)
    took = time.monotonic() - at
    assert answer.status_code == 200, answer.text
    print(f"wallet credited {credited:.3f} s, 402 → 200 (the call done) {took:.3f} s after the webhook's answer")
    for _ in range(2):  # Stripe delivers again: acknowledged, credited once
        again = stripe_local.deliver(f"{e2e.public}/api/webhooks/stripe", event)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    topups = e2e.sql(
        "SELECT count(*), sum(amount) FROM billing_ledger WHERE organization_id = %s AND kind = 'topup'",
        prepaid["org_id"],
    )
    assert topups == [(1, Decimal("5.0000000000"))]
    forged = stripe_local.deliver(
        f"{e2e.public}/api/webhooks/stripe", stripe_local.complete(started.json()["id"]), secret="whsec_forged"
    )
    assert forged.status_code == 400
