"""End to end (issue 14): a request carrying what PostgreSQL cannot store is served, billed and
stored cleaned, and the calls after it are stored too; a flood of bad keys does not become a
flood of request_logs rows."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_lib

from inference.proxy.contract import RedisKeys
from inference.proxy.shipper import GROUP
from inference.tests.test_data_plane import poll
from usage.tests.test_usage_pipeline import TINY, chat, wait_rows

pytestmark = pytest.mark.stack


def stream_drained(e2e) -> bool:
    client = redis_lib.Redis.from_url(e2e.stack.config.redis_url)
    stream = RedisKeys(e2e.stack.config.redis_prefix).usage_stream
    try:
        return client.xlen(stream) == 0 and client.xpending(stream, GROUP)["pending"] == 0
    finally:
        client.close()


def test_a_nul_in_the_user_or_a_stored_chat_is_stored_cleaned_and_later_calls_flow(e2e):
    session = e2e.login()
    chats = str(e2e.create_key(session, name="nul-chats", store_chats=True)["secret"])
    other = str(e2e.create_key(session, name="after-the-nul")["secret"])
    nul_user = chat(e2e, chats, {**TINY, "user": "ab\u0000cd"})
    nul_chat = chat(e2e, chats, {**TINY, "messages": [{"role": "user", "content": "a\u0000b"}]})
    later = [chat(e2e, other, TINY) for _ in range(3)]
    responses = [nul_user, nul_chat, *later]
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    ids = [r.headers["x-litellm-call-id"] for r in responses]
    logged = wait_rows(e2e, ids)
    assert all(logged[i]["status"] == "success" and logged[i]["cost"] > 0 for i in ids)
    assert e2e.sql("SELECT end_user FROM request_logs WHERE call_id = %s", ids[0]) == [("ab\ufffdcd",)]
    ((messages,),) = e2e.sql("SELECT messages FROM chat_history WHERE call_id = %s", ids[1])
    assert messages[-1]["content"] == "a\ufffdb"
    assert poll(lambda: stream_drained(e2e), timeout=60, every=0.25)


def test_a_flood_of_bad_keys_records_a_bounded_sample(e2e):
    def unidentified() -> int:
        return int(e2e.sql("SELECT count(*) FROM request_logs WHERE status = 'rejected' AND key_id IS NULL")[0][0])

    assert poll(lambda: stream_drained(e2e), timeout=60, every=0.25)
    before = unidentified()
    started = time.monotonic()

    def bad(i: int) -> int:
        return chat(e2e, f"sk-{i:048d}", TINY).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(bad, range(300)))
    elapsed = time.monotonic() - started
    refused = statuses.count(401)
    assert refused >= 100, statuses  # the flood reached the proxy (the edge may answer 429 to some)
    assert poll(lambda: stream_drained(e2e), timeout=60, every=0.25)
    time.sleep(1)  # the last records' batch
    recorded = unidentified() - before
    # The stack's LiteLLM workers, and LLMAAS_UNIDENTIFIED_REJECTIONS_BURST and _PER_SECOND's defaults.
    workers, burst, per_second = 2, 10, 2
    bound = workers * (burst + per_second * elapsed)  # each worker's bucket: full at the start, then its rate
    assert 1 <= recorded <= bound < refused, (recorded, bound, refused, elapsed)
    time.sleep(burst / per_second)  # the buckets refill for whatever test follows
