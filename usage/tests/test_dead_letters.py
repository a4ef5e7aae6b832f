"""manage.py usage_dead_letters: an operator lists, counts and replays the records the webhook
could not store (real Redis stream, real ingest)."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command

from inference.proxy.contract import USAGE_FIELD
from llmaas.redis_client import redis_client as client
from llmaas.redis_client import redis_keys
from usage.models import ChatHistory, RequestLog
from webhooks.tests.test_litellm_webhook import priced, record  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("redis_client")  # the test run's prefix, emptied afterwards


def dead_letter(rec, reason="contract", error="end_user is invalid"):
    raw = rec if isinstance(rec, bytes) else json.dumps(rec).encode()
    entry = client().xadd(
        redis_keys().usage_dead, {USAGE_FIELD: raw, "reason": reason, "error": error, "at": f"{time.time():.3f}"}
    )
    client().hincrby(redis_keys().usage_dead_counts, reason, 1)
    return entry.decode()


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("usage_dead_letters", *args, stdout=out)
    return out.getvalue()


def test_it_lists_the_dead_letters_with_their_reason(db):
    rec = record(end_user="ab\x00cd")
    entry = dead_letter(rec)
    listed = command("list")
    assert entry in listed and "contract" in listed and rec["call_id"] in listed and "end_user is invalid" in listed


def test_a_replay_stores_the_normalised_records_and_keeps_what_still_fails(priced):  # noqa: F811
    nul_user = record(end_user="ab\x00cd")
    nul_chat = record(chat={"messages": [{"role": "user", "content": "a\x00b"}], "response": "yo"})
    long_call_id = record(call_id="c" * 150)
    never = record(created_at=-5)  # no time to guess: stays dead
    entries = [dead_letter(r) for r in (nul_user, nul_chat, long_call_id, never)]
    garbage = dead_letter(b"{not json")

    assert "3 stored, 0 already stored, 2 still dead" in command("replay", "--all")
    assert RequestLog.objects.get(call_id=nul_user["call_id"]).end_user == "ab\ufffdcd"
    assert ChatHistory.objects.get(call_id=nul_chat["call_id"]).messages == [{"role": "user", "content": "a\ufffdb"}]
    assert RequestLog.objects.count() == 3
    left = client().xrange(redis_keys().usage_dead)
    assert len(left) == 2 and not {e.decode() for e, _ in left} & {*entries, garbage}
    assert sorted(json.loads(f[USAGE_FIELD.encode()]).get("call_id", "?") for _, f in left if f[b"r"][:1] == b"{"
                  and f[b"r"] != b"{not json") == [never["call_id"]]  # fmt: skip
    assert all(f[b"reason"] == b"contract" and f[b"replayed"] == b"1" for _, f in left)

    assert "0 stored" in command("replay", "--id", left[0][0].decode())  # fails again, stays
    assert client().xlen(redis_keys().usage_dead) == 2


def test_the_counts_survive_a_replay_and_are_exposed_as_prometheus_text(db):
    dead_letter(record(), reason="database", error="DataError")
    dead_letter(record(), reason="database", error="DataError")
    dead_letter(record(), reason="late", error="older than 30 days")
    assert json.loads(command("stats")) == {"waiting": 3, "total_by_reason": {"database": 2, "late": 1}}
    metrics = command("metrics")
    assert 'llmaas_usage_dead_letters_total{reason="database"} 2' in metrics
    assert "llmaas_usage_dead_letters_waiting 3" in metrics


def test_replay_needs_ids_or_all(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        command("replay")


def test_it_discards_dead_letters_by_id_or_by_reason(db):
    kept = dead_letter(record(), reason="database")
    one = dead_letter(record(), reason="database")
    late = [dead_letter(record(), reason="late", error="older than 30 days") for _ in range(2)]
    assert "1 discarded" in command("discard", "--id", one)
    assert "2 discarded" in command("discard", "--reason", "late")
    assert [e.decode() for e, _ in client().xrange(redis_keys().usage_dead)] == [kept]
    assert not {one, *late} & {e.decode() for e, _ in client().xrange(redis_keys().usage_dead)}


def test_replay_all_leaves_late_records_alone_so_they_do_not_loop(priced):  # noqa: F811
    late = dead_letter(record(), reason="late", error="older than 30 days")
    stored = dead_letter(record(), reason="database")
    assert "1 stored, 0 already stored, 0 still dead" in command("replay", "--all")
    assert [e.decode() for e, _ in client().xrange(redis_keys().usage_dead)] == [late]  # the same entry
    assert stored != late and RequestLog.objects.count() == 1


def test_a_dead_letter_without_a_call_id_replayed_twice_is_billed_once(priced):  # noqa: F811
    """The process may die between the ingest's commit and the XDEL: the letter is then replayed
    again and must be recognised as the call already stored."""
    rec = record(call_id=None)
    dead_letter(rec)
    assert "1 stored" in command("replay", "--all")
    dead_letter(rec)  # as if the XDEL had never happened
    assert "0 stored, 1 already stored" in command("replay", "--all")
    assert RequestLog.objects.count() == 1
