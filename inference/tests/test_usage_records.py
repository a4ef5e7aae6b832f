"""usage_record: whatever a client puts in a request (its `user`, a call id header, a model name,
chat content), the proxy's record of the call follows the contract and the ingest stores it.

The values come from LiteLLM's ``standard_logging_object`` (see /work/shared/LITELLM.md): the
fields a client can influence are driven with hostile values, the rest with odd but possible ones.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.proxy.contract import ContractError, UsageRecord
from inference.proxy.usage_records import UnidentifiedRejections, usage_record
from usage.models import ChatHistory, RequestLog
from usage.services import check_ids, request_logs_ingest

ORG, KEY, USER = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
HOSTILE_TEXT = ["ab\x00cd", "\ud800", "x\udfff\x00", "é" * 300, "k" * 5000, "", " ", "🦜" * 256]
HOSTILE_VALUES = [*HOSTILE_TEXT, None, 0, -1, 2**70, 1.5, float("nan"), float("inf"), True,
                  {"id": "ab\x00"}, ["a", {"b": "\ud800"}], {"x": float("nan")}]  # fmt: skip
NUMBERS = [None, 0, 7, -5, 2**31, 2**70, 1e300, float("nan"), float("inf"), -float("inf"), "12", True]
TIMES = [None, 0, -1.0, 1e20, float("nan"), float("inf"), 1.7e9, datetime(2026, 1, 2, tzinfo=UTC), "2026-01-01"]


def slo(**overrides):
    base = {
        "litellm_call_id": str(uuid.uuid4()),
        "model_group": "tiny",
        "model_id": "tiny-1",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "startTime": 1.7e9,
        "endTime": 1.7e9 + 0.5,
        "completionStartTime": 1.7e9 + 0.1,
        "stream": False,
        "end_user": None,
        "messages": [{"role": "user", "content": "hi"}],
        "response": {"choices": [{"message": {"content": "yo"}}]},
        "metadata": {"user_api_key_auth_metadata": {"llmaas_org_id": ORG, "llmaas_key_id": KEY,
                                                     "llmaas_user_id": USER, "llmaas_store_chats": True}},
    }  # fmt: skip
    return {**base, **overrides}


def roundtrip(record: UsageRecord) -> UsageRecord:
    """What the webhook does with the record after the stream and the shipper carried it."""
    parsed = UsageRecord.from_dict(json.loads(record.to_json()))
    check_ids(parsed)
    return parsed


hostile = st.fixed_dictionaries(
    {},
    optional={
        "litellm_call_id": st.sampled_from(HOSTILE_VALUES) | st.text(),
        "id": st.sampled_from(HOSTILE_VALUES),
        "model_group": st.sampled_from(HOSTILE_VALUES) | st.text(),
        "model": st.sampled_from(HOSTILE_VALUES),
        "model_id": st.sampled_from(HOSTILE_VALUES),
        "end_user": st.sampled_from(HOSTILE_VALUES) | st.text() | st.integers() | st.lists(st.text(), max_size=3),
        "prompt_tokens": st.sampled_from(NUMBERS),
        "completion_tokens": st.sampled_from(NUMBERS),
        "startTime": st.sampled_from(TIMES),
        "endTime": st.sampled_from(TIMES),
        "completionStartTime": st.sampled_from(TIMES),
        "stream": st.sampled_from([True, False, "yes", None]),
        "error_str": st.sampled_from([None, "Client disconnected the request", "\x00"]),
        "error_information": st.fixed_dictionaries(
            {"error_class": st.sampled_from(HOSTILE_VALUES), "error_code": st.sampled_from(["429", "401", 500, None])}
        ),
        "messages": st.recursive(
            st.none() | st.booleans() | st.floats() | st.text() | st.sampled_from(HOSTILE_TEXT),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=12,
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=hostile, ok=st.booleans())
def test_no_client_value_makes_the_record_invalid(changes, ok):
    record = usage_record({"standard_logging_object": slo(**changes)}, ok=ok, exception=None if ok else KeyError())
    assert record is not None
    parsed = roundtrip(record)
    assert math.isfinite(parsed.created_at) and parsed.created_at > 0
    if parsed.chat is not None:
        assert "\\u0000" not in json.dumps(parsed.chat) and "\x00" not in json.dumps(parsed.chat, ensure_ascii=False)


FIELDS = ("litellm_call_id", "model_group", "end_user", "model_id")
CASES = [{name: value} for name in FIELDS for value in HOSTILE_VALUES]
CASES += [{"messages": [{"role": "user", "content": text}]} for text in HOSTILE_TEXT]


@pytest.mark.parametrize("changes", CASES)
def test_each_hostile_value_still_bills_the_call_once(db, changes):
    record = usage_record({"standard_logging_object": slo(**changes)}, ok=True)
    assert record is not None
    result = request_logs_ingest(records=[roundtrip(record), roundtrip(record)])
    assert (result.inserted, result.duplicates) == (1, 1)
    row = RequestLog.objects.get()
    assert (row.prompt_tokens, row.completion_tokens, str(row.org_id)) == (3, 4, ORG)
    assert ChatHistory.objects.count() == 1


def test_a_user_is_kept_cleaned_and_bounded():
    def end_user(value):
        return usage_record({"standard_logging_object": slo(end_user=value)}, ok=True).end_user

    assert end_user("ab\x00cd") == "ab\ufffdcd"
    assert end_user({"id": 7}) == '{"id":7}'
    assert end_user(42) == "42"
    assert end_user("u" * 300) == "u" * 255
    assert end_user("") is None and end_user(None) is None


def test_a_call_id_that_is_not_one_is_replaced_the_same_way_each_time():
    def call_id(value):
        return usage_record({"standard_logging_object": slo(litellm_call_id=value)}, ok=True).call_id

    good = str(uuid.uuid4())
    assert call_id(good) == good
    replaced = call_id("c" * 101)
    assert uuid.UUID(replaced) and call_id("c" * 101) == replaced  # a repeated log of the call stays one call
    assert call_id("ab\x00") != call_id("ab\ufffd")
    assert uuid.UUID(call_id(None)) and call_id(None) != call_id(None)  # no id at all: a fresh one


def test_nul_in_a_stored_chat_is_replaced_and_the_chat_kept():
    messages = [{"role": "user", "content": "a\x00b", "name\x00": ["\ud800"]}]
    chat = usage_record({"standard_logging_object": slo(messages=messages)}, ok=True).chat
    assert chat["messages"] == [{"role": "user", "content": "a\ufffdb", "name\ufffd": ["\ufffd"]}]


def rejected(identified: bool) -> UsageRecord:
    metadata = slo()["metadata"] if identified else {}
    record = usage_record(
        {"standard_logging_object": slo(metadata=metadata, error_information={"error_code": "401"})}, ok=False
    )
    assert record is not None and record.status == "rejected"
    return record


def test_a_flood_of_unidentified_rejections_is_sampled_and_counted():
    sampler = UnidentifiedRejections(per_second=2, burst=10, report_every=60)
    kept = sum(sampler.keep(rejected(identified=False), now=100.0) for _ in range(1000))
    assert kept == 10 and sampler.skipped_total == 990  # the burst
    assert sum(sampler.keep(rejected(identified=False), now=103.0) for _ in range(100)) == 6  # then 2 a second
    assert sampler.report(now=130.0) == 0  # reported once a minute
    assert sampler.report(now=161.0) == 1084 and sampler.report(now=300.0) == 0


def test_rejections_of_identified_callers_and_other_calls_are_all_recorded():
    sampler = UnidentifiedRejections(per_second=1, burst=1)
    ok = usage_record({"standard_logging_object": slo()}, ok=True)
    assert all(sampler.keep(rejected(identified=True), now=5.0) for _ in range(500))
    assert all(sampler.keep(ok, now=5.0) for _ in range(500))
    assert sampler.skipped_total == 0


def with_request_id(value: object) -> dict[str, object]:
    """LiteLLM's callback kwargs, with the headers the route gate handed it."""
    headers = {"x-request-id": value, "content-type": "application/json"}
    return {"standard_logging_object": slo(), "litellm_params": {"proxy_server_request": {"headers": headers}}}


def test_it_stores_the_calls_request_id_in_its_request_log(db):
    record = usage_record(with_request_id("req-0f3a.7:b"), ok=True)
    assert record is not None and record.request_id == "req-0f3a.7:b"
    request_logs_ingest(records=[roundtrip(record)])
    assert RequestLog.objects.get().request_id == "req-0f3a.7:b"


@pytest.mark.parametrize("bad", ["r" * 65, "a b", "x\x00", 42, None, "é"])
def test_it_records_no_request_id_rather_than_a_malformed_one(bad):
    record = usage_record(with_request_id(bad), ok=True)
    assert record is not None and record.request_id is None
    assert roundtrip(record).request_id is None


def test_a_record_without_a_request_id_is_still_read_and_a_bad_one_refused():
    record = usage_record({"standard_logging_object": slo()}, ok=True)
    data = json.loads(record.to_json())
    del data["request_id"]  # written by a proxy from before the field
    assert UsageRecord.from_dict(data).request_id is None
    with pytest.raises(ContractError, match="request_id"):
        UsageRecord.from_dict({**data, "request_id": "r" * 65})
