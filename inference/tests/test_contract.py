"""UsageRecord.from_dict: what the webhook parses every record with (it skips the dataclass's
__init__ for speed, so it must still give exactly what the constructor gives)."""

import dataclasses
import time

import pytest

from inference.proxy.contract import ContractError, UsageRecord

FIELDS = {
    "call_id": "c-1", "org_id": "0b0c5c1e-93c5-4f0e-9a53-1d8b7f0a2c11", "key_id": None, "user_id": None,
    "model": "m", "deployment_id": None, "prompt_tokens": 3, "completion_tokens": 4, "latency_ms": 1.5,
    "ttft_ms": None, "status": "success", "error_type": None, "stream": False, "end_user": None,
    "created_at": time.time(),
}  # fmt: skip


def test_it_gives_what_the_constructor_gives_defaults_included():
    parsed = UsageRecord.from_dict({**FIELDS, "v": 1})
    assert parsed == UsageRecord(**FIELDS) and hash(parsed) == hash(UsageRecord(**FIELDS))
    assert (parsed.chat, parsed.tokens_estimated) == (None, False)
    assert dataclasses.asdict(parsed) == dataclasses.asdict(UsageRecord(**FIELDS))
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.model = "other"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": None}, "model is invalid"),
        ({"prompt_tokens": True}, "prompt_tokens is invalid"),
        ({"extra": 1}, "unknown fields ['extra']"),
        ({"v": 2}, "has version 2"),
    ],
)
def test_a_record_off_the_contract_is_refused_with_its_reason(change, message):
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("]", r"\]")):
        UsageRecord.from_dict({**FIELDS, "v": 1, **change})


def test_a_missing_field_is_named():
    data = {k: v for k, v in FIELDS.items() if k != "status"}
    with pytest.raises(ContractError, match=r"missing fields \['status'\]"):
        UsageRecord.from_dict({**data, "v": 1})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end_user": "ab\x00cd"}, "end_user is invalid"),
        ({"model": "m\x00"}, "model is invalid"),
        ({"call_id": "c\x00"}, "call_id is invalid"),
        ({"error_type": "\ud800"}, "error_type is invalid"),
        ({"latency_ms": float("nan")}, "latency_ms is invalid"),
        ({"latency_ms": float("inf")}, "latency_ms is invalid"),
        ({"ttft_ms": float("nan")}, "ttft_ms is invalid"),
        ({"created_at": float("inf")}, "created_at is invalid"),
        ({"created_at": float("nan")}, "created_at is invalid"),
        ({"created_at": 1e20}, "created_at is invalid"),  # past year 9999: datetime cannot hold it
    ],
)
def test_a_value_postgresql_cannot_store_is_refused_by_the_contract(change, message):
    """NUL, lone surrogates and non-finite numbers pass json.loads but fail (or poison) the ingest."""
    with pytest.raises(ContractError, match=message):
        UsageRecord.from_dict({**FIELDS, "v": 1, **change})


def test_unicode_that_postgresql_stores_is_accepted():
    parsed = UsageRecord.from_dict({**FIELDS, "v": 1, "end_user": "zoë 🦜 名前", "model": "m-ü"})
    assert parsed.end_user == "zoë 🦜 名前"
