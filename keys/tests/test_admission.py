"""End to end: budgets and rate limits hold exactly under concurrency, across both proxy
workers; refusals explain themselves; rotation; Redis restarted empty."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from inference.tests.test_data_plane import poll
from usage.tests.test_usage_pipeline import wait_rows

pytestmark = pytest.mark.stack
# The tiny model always writes max_tokens tokens: real cost ≈ the worst case reserved.
LONG = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 200, "temperature": 0}
SHORT = {**LONG, "max_tokens": 4}


@pytest.fixture(scope="module")
def admin(e2e):
    return e2e.login()


def call(
    e2e, key: str, body: dict | None = None, client: httpx.Client | None = None, base: str | None = None
) -> httpx.Response:
    sender = client or httpx
    return sender.post(
        f"{base or e2e.public}/v1/chat/completions",
        json=body or SHORT,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def burst(e2e, keys: list[str], n: int, body: dict, base: str | None = None) -> list[httpx.Response]:
    """n requests at once (spread over keys), each on its own connection, released by a barrier."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return call(e2e, keys[i % len(keys)], body, client, base)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_50_concurrent_requests_on_a_budget_for_one_admit_at_most_one(e2e, admin):
    # One call reserves ≈ $0.0006 (200 × $2.5/M out + the prompt's bound × $1.5/M): $0.0008 covers one.
    key = e2e.create_key(admin, name="budget-1", models=["tiny"], budget_usd="0.0008")
    responses = burst(e2e, [str(key["secret"])], 50, LONG)
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) <= 1 and len(admitted) + len(refused) == 50, {r.status_code for r in responses}
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    wait_rows(e2e, [r.headers["x-litellm-call-id"] for r in admitted])
    spent = e2e.sql("SELECT coalesce(sum(cost), 0) FROM request_logs WHERE key_id = %s", key["id"])[0][0]
    assert spent <= Decimal("0.0008") + Decimal("0.0007")
    # After settling, what is left no longer covers a call either.
    late = call(e2e, str(key["secret"]), LONG)
    assert late.status_code == 429 and late.json()["error"]["code"] == "insufficient_quota"


def test_an_organization_budget_holds_across_two_keys(e2e, admin):
    assert admin.patch("/api/organization/limits", json={"budget_usd": "0.0008"}).status_code == 200
    try:
        keys = [str(e2e.create_key(admin, name=f"org-{i}", models=["tiny"])["secret"]) for i in range(2)]
        responses = burst(e2e, keys, 50, LONG)
        admitted = [r for r in responses if r.status_code == 200]
        assert len(admitted) <= 1
        refusal = next(r for r in responses if r.status_code == 429).json()["error"]
        assert refusal["provider_specific_fields"]["scope"] == "org"
    finally:
        assert admin.patch("/api/organization/limits", json={"budget_usd": None}).status_code == 200


def test_rpm_admits_exactly_n_of_a_burst_across_both_workers(e2e, admin):
    # Straight to LiteLLM, a new connection per request, so that the kernel spreads the burst
    # over both workers; a burst that happened to land on one worker is repeated with a new key.
    for _ in range(10):
        key = e2e.create_key(admin, name="rpm", models=["tiny"], rpm=5)
        responses = burst(e2e, [str(key["secret"])], 20, SHORT, base=e2e.litellm)
        assert sorted(r.status_code for r in responses) == [200] * 5 + [429] * 15
        admitted_by = {r.headers["x-llmaas-worker"] for r in responses if r.status_code == 200}
        if len({r.headers["x-llmaas-worker"] for r in responses}) == 2 and admitted_by:
            break
    else:
        pytest.fail("no burst reached both workers")
    refusal = next(r for r in responses if r.status_code == 429)
    error = refusal.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_exceeded"
    details = error["provider_specific_fields"]
    assert details == {**details, "scope": "key", "scope_id": key["id"], "limit_type": "rpm", "limit": 5, "current": 5}
    assert details["reset_at"] > time.time()
    assert "requests per minute" in error["message"] and "limit 5" in error["message"]
    assert 1 <= int(refusal.headers["retry-after"]) <= 60


def test_success_headers_count_down(e2e, admin):
    key = str(e2e.create_key(admin, name="countdown", models=["tiny"], rpm=4, tpm=100_000)["secret"])
    remaining = []
    for _ in range(4):
        response = call(e2e, key)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "4"
        assert response.headers["x-ratelimit-limit-tokens"] == "100000"
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [3, 2, 1, 0]
    assert call(e2e, key).status_code == 429


def test_tpm_counts_the_tokens_actually_used(e2e, admin):
    key = str(e2e.create_key(admin, name="tpm", models=["tiny"], tpm=400)["secret"])
    used: list[int] = []
    worst = 0
    while True:
        response = call(e2e, key)
        if response.status_code != 200:
            break
        if not used:  # the first call's headers say what one call reserves: its worst case
            worst = 400 - int(response.headers["x-ratelimit-remaining-tokens"])
        used.append(response.json()["usage"]["total_tokens"])
        time.sleep(0.5)  # the usage hook settles the real count
        assert len(used) < 50
    assert response.status_code == 429 and response.json()["error"]["provider_specific_fields"]["limit_type"] == "tpm"
    # Each call was admitted only while its worst case fitted beside what the earlier ones used;
    # the refused one no longer fitted.
    assert used and sum(used[:-1]) + worst <= 400 < sum(used) + worst, (used, worst)


def test_a_single_request_whose_own_tokens_exceed_the_tpm_is_refused(e2e, admin):
    key = str(e2e.create_key(admin, name="tpm-small", models=["tiny"], tpm=50)["secret"])
    response = call(e2e, key)  # the prompt's bound alone is over 50 tokens
    assert response.status_code == 429, response.text
    details = response.json()["error"]["provider_specific_fields"]
    assert (details["limit_type"], details["limit"], details["current"]) == ("tpm", 50, 0)


def test_a_budget_is_checked_against_every_completion_and_the_smallest_cap(e2e, admin):
    # tiny: $1.5/M in (1500 nano-USD a token), $2.5/M out (2500). The body below is ~110 bytes,
    # so its prompt's bound is < 140 tokens (< 210 000 nano-USD).
    body = {**SHORT, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}

    def fresh(budget: str) -> str:
        return str(e2e.create_key(admin, name=f"worst-{budget}", models=["tiny"], budget_usd=budget)["secret"])

    # $0.0006 covers one completion of 100 tokens (≤ 460 000). Three would not (≥ 750 000), but
    # llama-server bills n choices as one: more than LLMAAS_MAX_COMPLETIONS_PER_REQUEST (1) is a 400.
    assert call(e2e, fresh("0.0006"), body).status_code == 200
    refused = [({"n": 3}, "too_many_completions"), ({"n": 2}, "too_many_completions")]
    refused.append(({"best_of": 2}, "field_not_allowed"))  # not a chat field: /v1/completions only
    for extra, code in refused:
        many = call(e2e, fresh("0.0006"), {**body, **extra})
        assert many.status_code == 400, many.text
        assert many.json()["error"]["code"] == code, many.text
    # The smaller cap is the one the backend stops at: max_completion_tokens=5 reserves ≤ 225 000,
    # so $0.0003 admits it although max_tokens=100 alone would not fit; and 5 tokens are written.
    capped = call(e2e, fresh("0.0003"), {**body, "max_completion_tokens": 5})
    assert capped.status_code == 200, capped.text
    assert capped.json()["usage"]["completion_tokens"] == 5
    assert call(e2e, fresh("0.0003"), body).status_code == 429


def _recorded_body(e2e, marker: str) -> dict:
    recorded = httpx.get(f"{e2e.recorder_url}/_recorded").json()
    bodies = [r["body"] for r in recorded if r["path"] == "/v1/chat/completions" and marker in json.dumps(r["body"])]
    assert len(bodies) == 1, bodies
    return bodies[0]


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        ({}, 1024),  # none sent: the model's max_output_tokens
        ({"max_tokens": 10**6}, 1024),  # clamped to it
        ({"max_tokens": 50, "max_completion_tokens": 7}, 7),  # the smallest
        ({"max_tokens": 7, "max_completion_tokens": 50}, 7),
    ],
)
def test_the_backend_is_always_sent_the_cap_that_was_reserved(e2e, admin, caps, expected):
    # recorder: context 4096, max_output_tokens 1024 (the catalog's default); the key has no limits.
    key = str(e2e.create_key(admin, name="capped", models=["recorder"])["secret"])
    marker = f"cap-{uuid.uuid4().hex}"
    body = {"model": "recorder", "messages": [{"role": "user", "content": marker}], **caps}
    assert call(e2e, key, body).status_code == 200
    sent = _recorded_body(e2e, marker)
    assert sent["max_tokens"] == expected, sent
    for name in ("max_completion_tokens", "n_predict"):
        assert sent.get(name, expected) <= expected, sent
    assert (sent.get("extra_body") or {}).get("max_tokens", expected) <= expected, sent


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("max_tokens", 10**30, "integer_above_max_value"),
        ("max_tokens", 2**31, "integer_above_max_value"),
        ("max_completion_tokens", 0, "integer_below_min_value"),
        ("n", 1000, "integer_above_max_value"),
        ("max_tokens", "10", "invalid_type"),
        ("max_tokens", True, "invalid_type"),
        ("n", 2.5, "invalid_type"),
    ],
)
@pytest.mark.parametrize("limits", [{"rpm": 1000}, {}], ids=["limited", "unlimited"])
def test_absurd_caps_are_a_400_never_a_503(e2e, admin, limits, field, value, code):
    key = str(e2e.create_key(admin, name="absurd", models=["tiny"], **limits)["secret"])
    response = call(e2e, key, {**SHORT, field: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, field)


def test_a_backend_dying_mid_load_leaves_no_reservation_and_spend_matches_settled_calls(e2e, admin):
    key = e2e.create_key(admin, name="dying", models=["tiny"], budget_usd="5")
    secret = str(key["secret"])
    results: list[httpx.Response] = []

    def loop(stop: threading.Event) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                results.append(call(e2e, secret, client=client))

    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(stop,)) for _ in range(3)]
    for t in threads:
        t.start()
    assert poll(lambda: len(results) >= 10, timeout=60)
    e2e.stack.supervisor.stop("llama-tiny")
    try:
        assert poll(lambda: any(r.status_code >= 500 for r in results[-5:]), timeout=30)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        e2e.stack.supervisor.restart("llama-tiny")
    ok = [r for r in results if r.status_code == 200]
    assert ok and len(ok) < len(results)
    wait_rows(e2e, [r.headers["x-litellm-call-id"] for r in results if "x-litellm-call-id" in r.headers])
    effective = admin.get(f"/api/keys/{key['id']}/effective").json()
    # Design target: reservations expire after their TTL (8 s here); polled with 5x headroom.
    assert poll(lambda: _reserved(admin, key["id"]) == Decimal(0), timeout=45, every=0.5), effective
    spent_pg = e2e.sql("SELECT coalesce(sum(cost), 0) FROM request_logs WHERE key_id = %s", key["id"])[0][0]
    budget = admin.get(f"/api/keys/{key['id']}/effective").json()["budgets"][0]
    assert Decimal(budget["spent_usd"]) == Decimal(spent_pg).quantize(Decimal("0.000001"))


def _reserved(admin, key_id) -> Decimal:
    return Decimal(admin.get(f"/api/keys/{key_id}/effective").json()["budgets"][0]["reserved_usd"])


def test_rotation_keeps_both_secrets_during_the_grace_then_only_the_new(e2e, admin):
    key = e2e.create_key(admin, name="rotating", models=["tiny"])
    old = str(key["secret"])
    rotation_id = str(uuid.uuid4())
    first = admin.post(f"/api/keys/{key['id']}/rotate", json={"rotation_id": rotation_id, "grace_seconds": 6})
    assert first.status_code == 201, first.text
    new = first.json()["secret"]
    e2e.issued.append(new)
    assert first.json()["id"] == key["id"] and new.startswith(str(key["prefix"])) and new != old
    assert call(e2e, old).status_code == 200 and call(e2e, new).status_code == 200

    again = admin.post(f"/api/keys/{key['id']}/rotate", json={"rotation_id": rotation_id, "grace_seconds": 6})
    assert again.status_code == 200 and again.json()["id"] == key["id"]
    assert again.json()["replayed"] is True and again.json()["secret"] is None
    assert call(e2e, new).status_code == 200  # the repeat created nothing and changed nothing
    assert len([k for k in admin.get("/api/keys/").json()["results"] if k["name"] == "rotating"]) == 1

    assert poll(lambda: call(e2e, old).status_code == 401, timeout=40, every=0.5)
    assert call(e2e, new).status_code == 200


def test_effective_limits_show_key_and_org_and_who_sets_them(e2e, admin):
    key = e2e.create_key(admin, name="eff", models=["tiny", "smollm2"], rpm=50, budget_usd="2")
    assert admin.patch("/api/organization/limits", json={"rpm": 20, "models": ["tiny"]}).status_code == 200
    try:
        effective = admin.get(f"/api/keys/{key['id']}/effective").json()
        assert effective["models"] == {"value": ["tiny"], "set_by": "both"}
        assert effective["rpm"] == {"value": 20, "set_by": "organization"}
        assert effective["budgets"][0]["scope"] == "key" and effective["budgets"][0]["limit_usd"] == "2.000000"
        # The org's model allowlist reaches the proxy at once.
        assert poll(lambda: call(e2e, str(key["secret"]), {**SHORT, "model": "smollm2"}).status_code == 403, 10)
    finally:
        admin.patch("/api/organization/limits", json={"rpm": None, "models": []})


def test_budgets_are_rebuilt_from_postgres_when_redis_restarts_empty(e2e, admin):
    key = e2e.create_key(admin, name="rebuild", models=["tiny"], budget_usd="1")
    responses = [call(e2e, str(key["secret"])) for _ in range(5)]
    wait_rows(e2e, [r.headers["x-litellm-call-id"] for r in responses])
    before = admin.get(f"/api/keys/{key['id']}/effective").json()["budgets"][0]
    e2e.stack.supervisor.restart("redis", timeout=30)
    assert poll(lambda: call(e2e, str(key["secret"])).status_code == 200, timeout=30, every=0.25)
    spent_pg = e2e.sql("SELECT coalesce(sum(cost), 0) FROM request_logs WHERE key_id = %s", key["id"])[0][0]
    after = admin.get(f"/api/keys/{key['id']}/effective").json()["budgets"][0]
    assert Decimal(before["spent_usd"]) > 0
    # Everything PostgreSQL knows (the probe call above may have settled on top of it).
    assert Decimal(after["spent_usd"]) >= Decimal(spent_pg).quantize(Decimal("0.000001"))
    assert Decimal(after["remaining_usd"]) <= Decimal(1) - Decimal(spent_pg).quantize(Decimal("0.000001"))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "tiny", "input": "hi", "max_output_tokens": 3}),  # the backend writes 16
        ("/v1/responses", {"model": "tiny", "input": "hi"}),
        ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"model": "tiny", "prompt": ["hello"], "max_tokens": 3}),
    ],
    ids=["responses-small-cap", "responses-no-cap", "chat-no-cap", "completions-prompt-list"],
)
def test_what_a_call_reserved_covers_what_it_used(e2e, admin, path, body):
    key = str(e2e.create_key(admin, name="covers", models=["tiny"], tpm=10**6)["secret"])
    response = httpx.post(f"{e2e.public}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    assert response.status_code == 200, response.text
    reserved = 10**6 - int(response.headers["x-ratelimit-remaining-tokens"])
    assert response.json()["usage"]["total_tokens"] <= reserved, (response.json()["usage"], reserved)
