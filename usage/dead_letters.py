"""Dead letters: usage records the webhook could not store, kept in ``{p}:usage:dead`` by the
shipper with the reason, the error and the time (see inference/proxy/shipper.py).

An operator lists them, fixes the cause, and replays them: a replay normalises each record as
the proxy does now (NUL and lone surrogates replaced, strings bounded, an invalid call id
replaced), then ingests it through the same service as the webhook. What is stored leaves the
stream; what fails again stays, with its new reason. A replay of every letter leaves those
dead-lettered as ``late`` alone (older than their organization keeps request logs: no replay can
store them); an operator discards what can never be stored, by id or by reason.
``{p}:usage:dead:counts`` counts the records ever dead-lettered by reason (a counter, for
monitoring; replays and discards do not lower it).

A letter without a call id gets one derived from its raw record (the same on every replay,
since a letter that fails again is kept with the same raw record): a replay that stored it and
died before removing it from the stream finds it stored the next time, instead of billing the
call twice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from inference.proxy.contract import USAGE_FIELD, ContractError, UsageRecord
from inference.proxy.usage_records import record_normalised
from llmaas.redis_client import redis_client, redis_keys
from usage.services import REASON_CONTRACT, REASON_LATE, check_ids, request_logs_ingest_isolating

log = logging.getLogger(__name__)
PAGE = 500
NOT_REPLAYED_BY_ALL = frozenset({REASON_LATE})  # no replay can store them: discard them instead
_LETTER_NAMESPACE = uuid.UUID("6f0c3e1a-8d7b-4b5e-9f2a-2d4c1b7e9a35")


@dataclass(frozen=True)
class DeadLetter:
    id: str
    reason: str
    error: str
    at: float | None  # unix seconds when it was dead-lettered
    record: dict[str, Any] | None  # None: the entry holds no readable JSON object
    raw: bytes

    @classmethod
    def from_entry(cls, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
        raw = fields.get(USAGE_FIELD.encode(), b"")
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        at = fields.get(b"at")
        return cls(
            id=entry_id.decode(),
            reason=fields.get(b"reason", b"unknown").decode(errors="replace"),
            error=fields.get(b"error", b"").decode(errors="replace"),
            at=float(at) if at else None,
            record=record if isinstance(record, dict) else None,
            raw=raw,
        )


@dataclass
class ReplayResult:
    stored: int = 0
    duplicates: int = 0  # already in request_logs (an earlier replay, or a redelivery)
    failed: int = 0  # still dead, with their new reason


Entry = tuple[bytes, dict[bytes, bytes]]


def _xrange(start: str, end: str, count: int | None = None) -> list[Entry]:
    page: Any = redis_client().xrange(redis_keys().usage_dead, start, end, count=count)
    return list(page or [])


def dead_letters(*, ids: list[str] | None = None, limit: int | None = None) -> Iterator[DeadLetter]:
    """The dead letters, oldest first (only ``ids`` when given; at most ``limit``)."""
    if ids is not None:
        for entry_id in ids:
            for found_id, fields in _xrange(entry_id, entry_id):
                yield DeadLetter.from_entry(found_id, fields)
        return
    start, seen = "-", 0
    while limit is None or seen < limit:
        page = _xrange(start, "+", count=PAGE if limit is None else min(PAGE, limit - seen))
        if not page:
            return
        for found_id, fields in page:
            yield DeadLetter.from_entry(found_id, fields)
        seen += len(page)
        start = "(" + page[-1][0].decode()


def dead_letter_stats() -> dict[str, Any]:
    """How many wait in the stream, and how many were ever dead-lettered, by reason."""
    client, keys = redis_client(), redis_keys()
    raw: Any = client.hgetall(keys.usage_dead_counts)
    counts = {k.decode(): int(v) for k, v in raw.items()}
    return {"waiting": int(client.xlen(keys.usage_dead)), "total_by_reason": dict(sorted(counts.items()))}


def dead_letter_metrics() -> str:
    """The stats in Prometheus' text format (for a textfile collector; not served publicly)."""
    stats = dead_letter_stats()
    lines = [
        "# HELP llmaas_usage_dead_letters_total Usage records the webhook could not store, by reason.",
        "# TYPE llmaas_usage_dead_letters_total counter",
        *(f'llmaas_usage_dead_letters_total{{reason="{r}"}} {n}' for r, n in stats["total_by_reason"].items()),
        "# HELP llmaas_usage_dead_letters_waiting Dead letters not replayed yet.",
        "# TYPE llmaas_usage_dead_letters_waiting gauge",
        f"llmaas_usage_dead_letters_waiting {stats['waiting']}",
    ]
    return "\n".join(lines) + "\n"


def dead_letters_replay(*, ids: list[str] | None = None) -> ReplayResult:
    """Normalise and ingest the dead letters (``ids``, or all but the ``late`` ones); remove what
    is stored, keep what fails again with its new reason."""
    result = ReplayResult()
    letters = list(dead_letters(ids=ids))
    if ids is None:
        letters = [letter for letter in letters if letter.reason not in NOT_REPLAYED_BY_ALL]
    for i in range(0, len(letters), PAGE):
        _replay_page(letters[i : i + PAGE], result)
    log.info("dead letters replayed: %s", result)
    return result


def _replay_page(letters: list[DeadLetter], result: ReplayResult) -> None:
    client, stream = redis_client(), redis_keys().usage_dead
    records: list[UsageRecord] = []
    sources: list[DeadLetter] = []
    still_dead: list[tuple[DeadLetter, str, str]] = []
    for letter in letters:
        try:
            if letter.record is None:
                raise ContractError("not a JSON object")
            record = UsageRecord.from_dict(record_normalised(_with_call_id(letter)))
            check_ids(record)
        except (ContractError, ValueError) as exc:
            still_dead.append((letter, REASON_CONTRACT, str(exc)[:200]))
            continue
        records.append(record)
        sources.append(letter)
    ingested = request_logs_ingest_isolating(records=records)
    result.stored += ingested.inserted
    result.duplicates += ingested.duplicates
    still_dead += [(sources[r.index], r.reason, r.error) for r in ingested.rejected]
    result.failed += len(still_dead)
    now = f"{time.time():.3f}"
    pipe = client.pipeline(transaction=True)
    for letter, reason, error in still_dead:
        pipe.xadd(stream, {USAGE_FIELD: letter.raw, "reason": reason, "error": error, "at": now, "replayed": "1"})
    if letters:
        pipe.xdel(stream, *[letter.id for letter in letters])
    pipe.execute()


def _with_call_id(letter: DeadLetter) -> dict[str, Any]:
    """The letter's record, with a call id derived from its raw record if it has none."""
    record = letter.record or {}
    if record.get("call_id") not in (None, ""):
        return record
    return {**record, "call_id": str(uuid.uuid5(_LETTER_NAMESPACE, letter.raw.hex()))}


def dead_letters_discard(*, ids: list[str] | None = None, reason: str | None = None) -> int:
    """Remove the dead letters ``ids``, or all of ``reason``, for good; returns how many."""
    if ids is None and reason is None:
        raise ValueError("ids or reason")
    found = [letter.id for letter in dead_letters(ids=ids) if reason is None or letter.reason == reason]
    client, stream = redis_client(), redis_keys().usage_dead
    for i in range(0, len(found), PAGE):
        client.xdel(stream, *found[i : i + PAGE])
    log.warning("%d dead letters discarded (ids %s, reason %s)", len(found), ids, reason)
    return len(found)
