import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from inference.proxy.signing import signed_headers
from inference.services import deployment_set
from usage.models import ChatHistory, RequestLog

URL = "/api/webhooks/litellm"


def record(**overrides):
    base = {
        "v": 1,
        "call_id": str(uuid.uuid4()),
        "org_id": str(uuid.uuid4()),
        "key_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "model": "priced",
        "deployment_id": "priced",
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "latency_ms": 120.5,
        "ttft_ms": None,
        "status": "success",
        "error_type": None,
        "stream": False,
        "end_user": None,
        "created_at": time.time(),
        "tokens_estimated": False,
        "chat": None,
    }
    return {**base, **overrides}


@pytest.fixture
def priced(db):
    return deployment_set(
        name="priced",
        backend_url="http://127.0.0.1:9/v1",
        upstream_model="p",
        context_window=4096,
        input_price_per_mtok=Decimal("0.15"),
        output_price_per_mtok=Decimal("0.60"),
    )


def post(body: bytes, headers: dict[str, str] | None = None, secret: str | None = None, now: float | None = None):
    from django.conf import settings

    signed = signed_headers(secret or settings.WEBHOOK_SECRET, body, now=now)
    return Client().post(URL, body, content_type="application/json", headers={**signed, **(headers or {})})


def batch(*records) -> bytes:
    return json.dumps({"records": list(records)}).encode()


def test_it_stores_each_record_with_its_cost_in_decimal(priced):
    rec = record()
    response = post(batch(rec))
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 1, "inserted": 1, "duplicates": 0, "rejected": []}
    row = RequestLog.objects.get(call_id=rec["call_id"])
    # 1200 × 0.15 / 1e6 + 300 × 0.60 / 1e6 = 0.00018 + 0.00018
    assert row.cost == Decimal("0.00036")
    assert (row.prompt_tokens, row.completion_tokens, row.status) == (1200, 300, "success")
    assert str(row.org_id) == rec["org_id"]


@pytest.mark.parametrize("status", ["failure", "rejected", "rate_limited"])
def test_failures_rejections_and_429s_are_counted_not_billed(priced, status):
    rec = record(status=status, error_type="X")
    assert post(batch(rec)).status_code == 200
    assert RequestLog.objects.get(call_id=rec["call_id"]).cost == 0


def test_a_cancelled_call_is_billed_for_its_tokens_and_flagged(priced):
    rec = record(status="cancelled", tokens_estimated=True, stream=True, completion_tokens=10)
    post(batch(rec))
    row = RequestLog.objects.get(call_id=rec["call_id"])
    assert row.cost > 0 and row.tokens_estimated


def test_the_same_batch_delivered_three_times_is_written_once(priced):
    body = batch(record(), record(), record(chat={"messages": [{"role": "user", "content": "hi"}], "response": "yo"}))
    answers = [post(body).json() for _ in range(3)]
    assert [a["inserted"] for a in answers] == [3, 0, 0]
    assert [a["duplicates"] for a in answers] == [0, 3, 3]
    assert RequestLog.objects.count() == 3
    assert ChatHistory.objects.count() == 1
    chat = ChatHistory.objects.get()
    assert RequestLog.objects.get(id=chat.request_log_id).call_id == chat.call_id


def test_a_repeated_call_id_inside_one_batch_is_stored_once(priced):
    rec = record()
    assert post(batch(rec, rec)).json()["inserted"] == 1
    assert RequestLog.objects.count() == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [("forged", 401), ("stale", 401), ("future", 401), ("unsigned", 401), ("tampered", 401), ("oversized", 413)],
)
def test_bad_deliveries_are_refused_and_write_nothing(priced, settings, case, status):
    body = batch(record())
    if case == "forged":
        response = post(body, secret="not-the-secret")
    elif case == "stale":
        response = post(body, now=time.time() - 301)
    elif case == "future":
        response = post(body, now=time.time() + 301)
    elif case == "unsigned":
        response = Client().post(URL, body, content_type="application/json")
    elif case == "tampered":
        headers = signed_headers(settings.WEBHOOK_SECRET, body)
        response = Client().post(URL, batch(record(prompt_tokens=1)), content_type="application/json", headers=headers)
    else:
        settings.WEBHOOK_MAX_BYTES = 1000
        response = post(batch(*[record() for _ in range(10)]))
    assert response.status_code == status
    assert response.json()["error"]["code"] in {"invalid_signature", "payload_too_large"}
    assert RequestLog.objects.count() == 0


def test_invalid_records_are_reported_and_the_valid_ones_kept(priced):
    good = record()
    bad = [
        record(prompt_tokens=-1),
        record(status="great"),
        record(org_id="not-a-uuid"),
        record(extra_field=1),
        {"v": 2, "call_id": "x"},
        "a string",
    ]
    answer = post(batch(good, *bad)).json()
    assert answer["inserted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 3, 4, 5, 6]
    assert list(RequestLog.objects.values_list("call_id", flat=True)) == [good["call_id"]]


@pytest.mark.parametrize("body", [b"{not json", b'{"records": {}}', b"[]", b'{"other": []}'])
def test_a_body_that_is_not_a_batch_is_a_400(priced, body):
    response = post(body)
    assert response.status_code == 400
    assert RequestLog.objects.count() == 0


def test_only_post_is_allowed(db):
    assert Client().get(URL).status_code == 405


def test_a_delivery_racing_an_uncommitted_one_of_the_same_calls_stores_only_the_new_ones(transactional_db):
    """Two shippers holding the same entries (one claimed them from the other): the second's
    COPY waits on the first's uncommitted rows, fails on their unique key once they commit, and
    its batch then takes the idempotent path: each call stored once, the new ones too."""
    from django.db import connection, transaction

    from inference.proxy.contract import UsageRecord
    from usage.services import request_logs_ingest

    deployment_set(name="priced", backend_url="http://127.0.0.1:9/v1", upstream_model="p", context_window=4096)
    chat = {"messages": [{"role": "user", "content": "hi"}], "response": "yo"}
    first = [UsageRecord.from_dict(record()) for _ in range(5)]
    later = [UsageRecord.from_dict(record(chat=chat)) for _ in range(3)]
    holding, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def deliver(name: str, records: list, hold: bool) -> None:
        try:
            with transaction.atomic():
                results[name] = request_logs_ingest(records=records)
                if hold:
                    holding.set()
                    release.wait(30)
        finally:
            connection.close()

    a = threading.Thread(target=deliver, args=("a", first, True))
    a.start()
    assert holding.wait(30)
    b = threading.Thread(target=deliver, args=("b", first + later, False))
    b.start()
    b.join(1)
    assert b.is_alive()  # waiting on a's uncommitted rows
    release.set()
    a.join(30)
    b.join(30)
    assert (results["a"].inserted, results["b"].inserted, results["b"].duplicates) == (5, 3, 5)
    assert RequestLog.objects.count() == 8 and ChatHistory.objects.count() == 3
    assert sorted(ChatHistory.objects.values_list("call_id", flat=True)) == sorted(r.call_id for r in later)
    for chat in ChatHistory.objects.all():
        assert RequestLog.objects.get(id=chat.request_log_id).call_id == chat.call_id


def test_a_record_postgresql_cannot_store_is_rejected_with_its_reason_and_the_rest_stored(priced):
    """One NUL used to fail the whole batch with a 500, which the shipper retried forever."""
    good = [record() for _ in range(3)]
    nul_user, nul_model = record(end_user="ab\x00cd"), record(model="m\x00")
    response = post(batch(good[0], nul_user, good[1], nul_model, good[2]))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["inserted"] == 3
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(1, "contract"), (3, "contract")]
    assert "end_user" in answer["rejected"][0]["error"]
    assert set(RequestLog.objects.values_list("call_id", flat=True)) == {r["call_id"] for r in good}


def test_a_non_finite_number_in_the_body_is_rejected_not_a_500(priced):
    good = record()
    body = batch(good, record(created_at=1.0)).replace(b'"created_at": 1.0', b'"created_at": Infinity')
    response = post(body)
    assert response.status_code == 200, response.content
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    assert list(RequestLog.objects.values_list("call_id", flat=True)) == [good["call_id"]]


@pytest.mark.parametrize("poison", ["\x00", "\ud800"])
def test_records_the_database_refuses_are_isolated_by_bisection_and_the_rest_stored(priced, poison):
    """A chat is not inspected string by string on the hot path: PostgreSQL's jsonb refuses a NUL
    or a lone surrogate inside it, and the ingest then finds that record by halving the batch."""
    chat = {"messages": [{"role": "user", "content": f"a{poison}b"}], "response": "yo"}
    records = [record(chat={"messages": [], "response": str(i)}) for i in range(9)]
    records.insert(6, record(chat=chat))
    response = post(batch(*records))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["inserted"] == 9
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(6, "database")]
    assert answer["rejected"][0]["error"]
    stored = set(RequestLog.objects.values_list("call_id", flat=True))
    assert stored == {r["call_id"] for i, r in enumerate(records) if i != 6}
    assert ChatHistory.objects.count() == 9
    # Redelivered, the batch stores nothing new and rejects the same record.
    again = post(batch(*records)).json()
    assert (again["inserted"], [r["index"] for r in again["rejected"]]) == (0, [6])


def test_a_database_that_is_down_is_a_503_so_the_shipper_retries(priced, monkeypatch):
    from django.db import OperationalError

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("usage.services.request_logs_ingest", down)
    response = post(batch(record()))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_a_connection_lost_during_the_copy_is_a_503_so_the_shipper_retries(transactional_db, priced):
    """The COPY runs on psycopg's own cursor: a connection dropped under it (here its backend is
    terminated from another connection) must still answer 503, not 500."""
    import psycopg
    from django.db import connection

    from usage import services

    copy_new = services._copy_new

    def terminated_then_copy(cursor, *args):
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return copy_new(cursor, *args)

    services._copy_new = terminated_then_copy
    try:
        response = post(batch(record()))
    finally:
        services._copy_new = copy_new
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert post(batch(record())).status_code == 200  # the next delivery gets a working connection
