"""Ingest of usage records into request_logs (and chat_history), exactly once per call id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction

from inference.models import ServedModel
from inference.proxy.contract import STATUS_CANCELLED, STATUS_SUCCESS, UsageRecord
from usage.models import ChatHistory

PER_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("1e-10")
BILLED = (STATUS_SUCCESS, STATUS_CANCELLED)  # failures, rejections and 429s are counted, not billed

_INSERT = """
INSERT INTO request_logs (call_id, org_id, key_id, user_id, model, deployment_id, prompt_tokens,
    completion_tokens, cost, latency_ms, ttft_ms, status, error_type, stream, end_user,
    tokens_estimated, created_at, ingested_at)
SELECT t.*, now() FROM unnest(
    %s::text[], %s::uuid[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::int[], %s::int[],
    %s::numeric[], %s::float8[], %s::float8[], %s::text[], %s::text[], %s::bool[], %s::text[],
    %s::bool[], %s::timestamptz[]) AS t
ON CONFLICT (call_id) DO NOTHING
RETURNING id, call_id
"""


@dataclass(frozen=True)
class IngestResult:
    inserted: int
    duplicates: int


def call_cost(record: UsageRecord, prices: dict[str, tuple[Decimal, Decimal]]) -> Decimal:
    """USD for the call, from the catalog's prices per million tokens; 0 if not billed."""
    if record.status not in BILLED or record.model not in prices:
        return Decimal(0)
    input_price, output_price = prices[record.model]
    cost = (record.prompt_tokens * input_price + record.completion_tokens * output_price) / PER_MILLION
    return cost.quantize(COST_QUANTUM)


def _uuid_or_none(value: str | None) -> str | None:
    return str(uuid.UUID(value)) if value else None


def check_ids(record: UsageRecord) -> None:
    """Raise ValueError unless the record's ids are UUIDs (or absent)."""
    for value in (record.org_id, record.key_id, record.user_id):
        _uuid_or_none(value)


def request_logs_ingest(*, records: list[UsageRecord]) -> IngestResult:
    """Insert the records in one statement; a call id already stored is skipped (idempotent)."""
    if not records:
        return IngestResult(0, 0)
    names = {r.model for r in records}
    prices = {
        m.name: (m.input_price_per_mtok, m.output_price_per_mtok) for m in ServedModel.objects.filter(name__in=names)
    }
    columns: list[list[object]] = [[] for _ in range(17)]
    for r in records:
        row = (
            r.call_id,
            _uuid_or_none(r.org_id),
            _uuid_or_none(r.key_id),
            _uuid_or_none(r.user_id),
            r.model,
            r.deployment_id,
            r.prompt_tokens,
            r.completion_tokens,
            call_cost(r, prices),
            float(r.latency_ms),
            None if r.ttft_ms is None else float(r.ttft_ms),
            r.status,
            r.error_type,
            r.stream,
            r.end_user,
            r.tokens_estimated,
            datetime.fromtimestamp(r.created_at, tz=UTC),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_INSERT, columns)
            inserted = {call_id: log_id for log_id, call_id in cursor.fetchall()}
        chats: list[ChatHistory] = []
        for r in records:
            log_id = inserted.get(r.call_id)
            if r.chat is None or log_id is None:
                continue
            chats.append(
                ChatHistory(
                    request_log_id=log_id,
                    org_id=_uuid_or_none(r.org_id),
                    key_id=_uuid_or_none(r.key_id),
                    messages=r.chat.get("messages"),
                    response=r.chat.get("response"),
                    created_at=datetime.fromtimestamp(r.created_at, tz=UTC),
                )
            )
            del inserted[r.call_id]  # a call id repeated within the batch gets one chat
        ChatHistory.objects.bulk_create(chats)
    stored = len(inserted) + len(chats)
    return IngestResult(inserted=stored, duplicates=len(records) - stored)
