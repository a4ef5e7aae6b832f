"""End to end: every call through the proxy lands in request_logs exactly once, whatever
restarts (kill -9 of Django or the shipper, PostgreSQL down for 30 s)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from inference.tests.test_data_plane import poll

pytestmark = pytest.mark.stack
TINY = {"model": "tiny", "messages": [{"role": "user", "content": "count"}], "max_tokens": 6, "temperature": 0}


@pytest.fixture(scope="module")
def key(e2e):
    session = e2e.login()
    return str(e2e.create_key(session, name="usage", store_chats=False)["secret"])


def chat(e2e, key: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kw
    )


def rows(e2e, call_ids: list[str]) -> dict[str, dict]:
    found = e2e.sql(
        "SELECT call_id, status, prompt_tokens, completion_tokens, cost, stream, tokens_estimated, key_id::text "
        "FROM request_logs WHERE call_id = ANY(%s)",
        list(call_ids),
    )
    names = ("call_id", "status", "prompt_tokens", "completion_tokens", "cost", "stream", "estimated", "key_id")
    return {str(r[0]): dict(zip(names, r, strict=True)) for r in found}


def wait_rows(e2e, call_ids: list[str], timeout: float = 60) -> dict[str, dict]:
    assert poll(lambda: len(rows(e2e, call_ids)) == len(set(call_ids)), timeout=timeout, every=0.25), (
        f"{len(set(call_ids)) - len(rows(e2e, call_ids))} of {len(set(call_ids))} calls missing from request_logs"
    )
    return rows(e2e, call_ids)


def test_each_kind_of_call_is_logged_once_with_its_status_and_tokens(e2e, key):
    plain = chat(e2e, key, TINY)
    streamed_usage = chat(e2e, key, {**TINY, "stream": True, "stream_options": {"include_usage": True}})
    streamed_bare = chat(e2e, key, {**TINY, "stream": True})
    failed = chat(e2e, key, {**TINY, "model": "offline"})
    assert [r.status_code for r in (plain, streamed_usage, streamed_bare)] == [200, 200, 200]
    assert failed.status_code >= 500
    with httpx.stream(
        "POST",
        f"{e2e.public}/v1/chat/completions",
        json={"model": "smollm2", "messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 400,
              "stream": True},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ) as cut:  # fmt: skip
        for n, _ in enumerate(cut.iter_lines()):
            if n > 4:
                break  # the client goes away mid-stream
    ids = {
        name: r.headers["x-litellm-call-id"]
        for name, r in {
            "plain": plain,
            "streamed_usage": streamed_usage,
            "streamed_bare": streamed_bare,
            "failed": failed,
            "cancelled": cut,
        }.items()
    }
    logged = wait_rows(e2e, list(ids.values()))
    by = {name: logged[call_id] for name, call_id in ids.items()}

    for name in ("plain", "streamed_usage", "streamed_bare"):
        assert by[name]["status"] == "success", by[name]
        assert by[name]["completion_tokens"] == 6  # the tiny model always runs to max_tokens
        assert not by[name]["estimated"]
    # The same deterministic call, streamed or not, records the same tokens and the same cost.
    same = [(by[n]["prompt_tokens"], by[n]["completion_tokens"], by[n]["cost"]) for n in ("plain", "streamed_usage")]
    assert same[0] == same[1] == (by["streamed_bare"]["prompt_tokens"], 6, by["streamed_bare"]["cost"])
    assert by["plain"]["cost"] == (
        Decimal(by["plain"]["prompt_tokens"]) * Decimal("1.5") + 6 * Decimal("2.5")
    ) / Decimal(1_000_000)
    assert [by["streamed_usage"]["stream"], by["plain"]["stream"]] == [True, False]

    assert by["failed"]["status"] == "failure" and by["failed"]["cost"] == 0
    assert by["cancelled"]["status"] == "cancelled"
    assert by["cancelled"]["estimated"] and 0 < by["cancelled"]["completion_tokens"] < 400
    assert by["cancelled"]["cost"] > 0


def test_auth_rejections_are_counted_not_billed(e2e):
    before = e2e.sql("SELECT count(*) FROM request_logs WHERE status = 'rejected'")[0][0]
    for _ in range(3):
        assert chat(e2e, "sk-" + "r" * 48, TINY).status_code == 401
    assert poll(
        lambda: e2e.sql("SELECT count(*) FROM request_logs WHERE status = 'rejected'")[0][0] >= before + 3,
        timeout=30,
    )
    assert e2e.sql("SELECT coalesce(sum(cost), 0) FROM request_logs WHERE status = 'rejected'")[0][0] == 0


def load(e2e, key: str, results: list, count: int | None = None, stop: threading.Event | None = None) -> None:
    """Tiny calls from 4 client threads into `results`: `count` of them, or until `stop` is set."""
    lock = threading.Lock()
    issued = iter(range(count)) if count is not None else None

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                if issued is not None:
                    with lock:
                        if next(issued, None) is None:
                            return
                elif stop is not None and stop.is_set():
                    return
                response = client.post(
                    f"{e2e.public}/v1/chat/completions",
                    json={**TINY, "max_tokens": 1},
                    headers={"Authorization": f"Bearer {key}"},
                )
                with lock:
                    results.append(response)

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(worker) for _ in range(4)]:
            future.result()


def _all_logged_once(e2e, responses: list[httpx.Response]) -> None:
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    call_ids = [r.headers["x-litellm-call-id"] for r in responses]
    assert len(set(call_ids)) == len(call_ids)
    wait_rows(e2e, call_ids, timeout=90)
    counts = e2e.sql("SELECT count(*), count(DISTINCT call_id) FROM request_logs WHERE call_id = ANY(%s)", call_ids)
    assert counts[0] == (len(call_ids), len(call_ids))


@pytest.mark.parametrize("victim", ["django-internal", "shipper"])  # django-internal serves the webhook
def test_kill_9_mid_load_loses_and_duplicates_nothing(e2e, key, victim):
    results: list[httpx.Response] = []
    loader = threading.Thread(target=load, args=(e2e, key, results), kwargs={"count": 200})
    loader.start()
    assert poll(lambda: len(results) >= 30, timeout=60)  # calls are flowing
    e2e.stack.supervisor.restart(victim, kill=True)
    loader.join(120)
    assert len(results) == 200
    _all_logged_once(e2e, results)


def test_postgres_down_for_30s_under_load(e2e, key):
    stop = threading.Event()
    results: list[httpx.Response] = []
    loader = threading.Thread(target=load, args=(e2e, key, results), kwargs={"stop": stop})
    loader.start()
    assert poll(lambda: len(results) >= 10, timeout=60)
    e2e.postgres.stop()
    try:
        time.sleep(30)
    finally:
        e2e.postgres.start()
    time.sleep(1.0)
    stop.set()
    loader.join(60)
    assert len(results) > 100, len(results)
    _all_logged_once(e2e, results)  # includes: every call during the outage succeeded


def test_a_backend_saturation_429_is_counted_not_billed(e2e):
    session = e2e.login()
    key = str(e2e.create_key(session, name="saturated", models=["recorder"])["secret"])
    response = chat(e2e, key, {"model": "recorder", "messages": [{"role": "user", "content": "__saturated__"}]})
    assert response.status_code == 429, response.text
    logged = wait_rows(e2e, [response.headers["x-litellm-call-id"]])
    (row,) = logged.values()
    assert row["status"] == "rate_limited" and row["cost"] == 0


def test_chats_are_kept_only_for_keys_that_opt_in(e2e):
    session = e2e.login()
    keeper = str(e2e.create_key(session, name="keeper", models=["tiny"], store_chats=True)["secret"])
    plain = str(e2e.create_key(session, name="plain", models=["tiny"])["secret"])
    kept = chat(e2e, keeper, {**TINY, "messages": [{"role": "user", "content": "remember me"}]})
    dropped = chat(e2e, plain, {**TINY, "messages": [{"role": "user", "content": "forget me"}]})
    ids = [kept.headers["x-litellm-call-id"], dropped.headers["x-litellm-call-id"]]
    wait_rows(e2e, ids)
    chats = e2e.sql(
        "SELECT r.call_id, c.messages::text, c.response::text FROM chat_history c "
        "JOIN request_logs r ON r.id = c.request_log_id WHERE r.call_id = ANY(%s)",
        ids,
    )
    assert [c[0] for c in chats] == [ids[0]]
    assert "remember me" in str(chats[0][1])
    assert kept.json()["choices"][0]["message"]["content"] in str(chats[0][2])
