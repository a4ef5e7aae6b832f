"""Writes of the usage app: the ingest of usage records into request_logs (and chat_history),
exactly once per call; chat deletion, notifications, retention."""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone
from psycopg.errors import UniqueViolation

from accounts.models import Organization, User
from inference.proxy.contract import STATUS_CANCELLED, STATUS_SUCCESS, UsageRecord
from inference.selectors import deployment_prices, model_prices
from llmaas.errors import ApplicationError
from usage.models import ChatHistory, Notification, RetentionPolicy
from usage.retention import delete_batched, effective_days
from usage.rollups import DELTA_COLUMNS, deltas_insert, deltas_of
from usage.selectors import LogFilter

log = logging.getLogger(__name__)

PER_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("1e-10")
BILLED = (STATUS_SUCCESS, STATUS_CANCELLED)  # failures, rejections and 429s are counted, not billed

COLUMNS = (
    "call_id, org_id, key_id, user_id, model, deployment_id, prompt_tokens, completion_tokens, cost, "
    "latency_ms, ttft_ms, status, error_type, stream, end_user, tokens_estimated, created_at, request_id"
)
# PostgreSQL's types of COLUMNS (and of the staging table's), for COPY in binary format: the
# server then parses no text (uuid, timestamptz and numeric are the costly ones), about a quarter
# faster than text for these rows (bench B5). A binary COPY takes each column's type from the table,
# so a list that drifts from the model fails every ingest test at once ("incorrect binary data format").
_LOG_TYPES = ("text", "uuid", "uuid", "uuid", "text", "text", "int4", "int4", "numeric", "float8", "float8", "text",
              "text", "bool", "text", "bool", "timestamptz", "text")  # fmt: skip
_DELTA_TYPES = ("timestamptz", "uuid", "int2", "uuid", "text", "text", "int8", "int8", "int8", "int8", "numeric")
# The rows are COPYed straight into request_logs (COPY inserts in bulk: 2000-row batches went from
# 35k to 49k rows/s in-process against a staged INSERT … ON CONFLICT, bench B5), in a savepoint: a call
# stored before (a redelivered batch, or two shippers racing) fails the COPY with a unique
# violation, and the batch then takes the idempotent path below, which skips stored calls.
_COPY_LOGS = f"COPY request_logs ({COLUMNS}, ingested_at) FROM STDIN (FORMAT BINARY)"
# The rows that carry chats, with ids taken from the sequence first.
_COPY_LOGS_WITH_IDS = f"COPY request_logs (id, {COLUMNS}, ingested_at) FROM STDIN (FORMAT BINARY)"
_COPY_DELTAS = f"COPY usage_deltas ({DELTA_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_IDS = "SELECT nextval(pg_get_serial_sequence('request_logs', 'id')) FROM generate_series(1, %s)"

# The idempotent path: COPY into a per-connection staging table, then one INSERT … SELECT that
# skips stored calls and writes the deltas of the rows it stored (see rollups.py), in one statement.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS request_logs_stage (
    call_id text, org_id uuid, key_id uuid, user_id uuid, model text, deployment_id text,
    prompt_tokens int, completion_tokens int, cost numeric, latency_ms float8, ttft_ms float8,
    status text, error_type text, stream bool, end_user text, tokens_estimated bool,
    created_at timestamptz, request_id text
) ON COMMIT DELETE ROWS
"""
_COPY_STAGE = f"COPY request_logs_stage ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
_INSERT = f"""
WITH stored AS (
    INSERT INTO request_logs ({COLUMNS}, ingested_at)
    SELECT {COLUMNS}, now() FROM request_logs_stage
    ON CONFLICT (call_id, created_at) DO NOTHING
    RETURNING id, call_id, org_id, key_id, model, end_user, status, prompt_tokens, completion_tokens, cost, created_at
), deltas AS ({deltas_insert("stored")})
SELECT id, call_id, created_at FROM stored
"""  # noqa: S608 - a constant column list, no input in it

Row = tuple[Any, ...]  # the COLUMNS of one call
CallKey = tuple[str, datetime]  # what request_logs stores once: (call_id, created_at)


@dataclass(frozen=True)
class IngestResult:
    inserted: int
    duplicates: int


# What one record can make the ingest raise (a value PostgreSQL refuses, a number out of range):
# the batch is then halved until the record is found. A database that is unreachable raises
# OperationalError or InterfaceError instead, which no halving can cure: those propagate.
RECORD_ERRORS = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError, ValueError, TypeError,
                 ArithmeticError, LookupError)  # fmt: skip
REASON_CONTRACT = "contract"  # the record does not follow the contract (UsageRecord.from_dict)
REASON_DATABASE = "database"  # the database refused the record
REASON_LATE = "late"  # older than its organization keeps request logs: storing it would rewrite a rolled-up hour


@dataclass(frozen=True)
class RecordRejected:
    index: int  # in the list given to the ingest
    reason: str  # one of the REASON_* codes
    error: str


@dataclass(frozen=True)
class IsolatedIngest:
    inserted: int
    duplicates: int
    rejected: list[RecordRejected]


def request_logs_ingest_isolating(*, records: list[UsageRecord]) -> IsolatedIngest:
    """``request_logs_ingest``, except that a record the database refuses does not fail the
    others: a failing batch is halved, each half ingested in its own transaction, down to single
    records, which are reported back with the error. The rest are stored (each once: the halves
    that committed before a failure are skipped as duplicates when a batch is delivered again)."""
    inserted = duplicates = 0
    late = _late_records(records)
    rejected = [RecordRejected(i, REASON_LATE, why) for i, why in late.items()]
    indexes = [i for i in range(len(records)) if i not in late]
    pending = [(indexes, [records[i] for i in indexes])]  # (indexes, their records): a stack of parts
    while pending:
        indexes, part = pending.pop()
        if not part:
            continue
        try:
            result = request_logs_ingest(records=part)
        except RECORD_ERRORS as exc:
            if len(part) == 1:
                log.error("usage record %s refused by the database: %s", part[0].call_id, exc)
                rejected.append(RecordRejected(indexes[0], REASON_DATABASE, f"{type(exc).__name__}: {exc}"[:200]))
                continue
            half = len(part) // 2
            pending += [(indexes[half:], part[half:]), (indexes[:half], part[:half])]
            continue
        inserted += result.inserted
        duplicates += result.duplicates
    return IsolatedIngest(inserted, duplicates, sorted(rejected, key=lambda r: r.index))


DEPLOYMENT_PRICE_PREFIX = "deployment:"


def call_cost(record: UsageRecord, prices: dict[str, tuple[Decimal, Decimal]]) -> Decimal:
    """USD for the call, from the catalog's prices per million tokens (its deployment's when
    ``prices`` has them, under DEPLOYMENT_PRICE_PREFIX + its id, else its model's); 0 if not billed."""
    price = prices.get(f"{DEPLOYMENT_PRICE_PREFIX}{record.deployment_id}") if record.deployment_id else None
    price = price or prices.get(record.model)
    if record.status not in BILLED or price is None:
        return Decimal(0)
    input_price, output_price = price
    cost = (record.prompt_tokens * input_price + record.completion_tokens * output_price) / PER_MILLION
    return cost.quantize(COST_QUANTUM)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@functools.lru_cache(maxsize=4096)  # a batch holds a few organizations and keys, each many times
def _uuid_or_none(value: str | None) -> str | None:
    """The id in canonical form (what the shipper sends, checked without parsing), or None."""
    if not value:
        return None
    return value if _CANONICAL_UUID.fullmatch(value) else str(uuid.UUID(value))


@functools.lru_cache(maxsize=4096)
def _uuid_value(value: str | None) -> uuid.UUID | None:
    """The id as a UUID (what a binary COPY sends), or None; each distinct id parsed once."""
    return uuid.UUID(value) if value else None


def check_ids(record: UsageRecord) -> None:
    """Raise ValueError unless the record's ids are UUIDs (or absent)."""
    for value in (record.org_id, record.key_id, record.user_id):
        _uuid_or_none(value)


DAY = 86_400
HOUR = 3600


def _hour_start(created_at: float) -> float:
    return created_at // HOUR * HOUR


def _late_records(records: list[UsageRecord]) -> dict[int, str]:
    """The records whose hour starts before their organization's retention cutoff (index → why).
    Retention deletes the rows created before its cutoff (``created_at < now - days``), which
    falls inside an hour: storing a record of that hour, even one after the cutoff, would
    recompute the hour's rollup from the rows left and wipe the deleted part. No organization
    keeps less than a day, so a batch without older records (the normal case) costs one pass and
    no query."""
    now = time.time()
    if not records or _hour_start(min(r.created_at for r in records)) >= now - DAY:
        return {}
    orgs = {org for r in records if _hour_start(r.created_at) < now - DAY and (org := _uuid_or_none(r.org_id))}
    policies = {str(p.organization_id): p for p in RetentionPolicy.objects.filter(organization_id__in=orgs)}
    late = {}
    for index, r in enumerate(records):
        hour = _hour_start(r.created_at)
        if hour >= now - DAY:
            continue
        org_id = _uuid_or_none(r.org_id)
        days = effective_days(policies.get(org_id) if org_id else None)[0]
        if hour < now - days * DAY:
            created = datetime.fromtimestamp(r.created_at, tz=UTC).isoformat()
            late[index] = (
                f"created at {created}: its hour starts before the {days} days of request logs its organization keeps"
            )
    return late


def request_logs_ingest(*, records: list[UsageRecord]) -> IngestResult:
    """Store the records, each call once: a call already stored, or repeated in the batch, is
    skipped (idempotent), and the first record of a call that carries a chat stores it."""
    if not records:
        return IngestResult(0, 0)
    names = {r.model for r in records}
    prices = model_prices(names=names)
    # A call routed to a deployment is billed at that deployment's prices (what Redis settled).
    prices |= {
        f"{DEPLOYMENT_PRICE_PREFIX}{name}": p
        for name, p in deployment_prices(names={r.deployment_id for r in records if r.deployment_id}).items()
    }
    rows: dict[CallKey, Row] = {}
    deltas: list[tuple[Any, ...]] = []  # what deltas_of reads, for each row
    hours: dict[int, datetime] = {}
    chats: dict[str, tuple[CallKey, UsageRecord]] = {}  # call id → its chat's call and record
    for r in records:
        created_at = datetime.fromtimestamp(r.created_at, tz=UTC)
        key = (r.call_id, created_at)
        if r.chat is not None and r.call_id not in chats:
            chats[r.call_id] = (key, r)
        if key in rows:
            continue
        org_id, key_id, cost = _uuid_value(r.org_id), _uuid_value(r.key_id), call_cost(r, prices)
        hour = int(created_at.timestamp()) // 3600  # of the stored time (rounded to µs), as in SQL
        if hour not in hours:
            hours[hour] = datetime.fromtimestamp(hour * 3600, tz=UTC)
        deltas.append(
            (org_id, key_id, r.model, r.end_user, r.status, r.prompt_tokens, r.completion_tokens, cost, hours[hour])
        )
        rows[key] = (
            r.call_id,
            org_id,
            key_id,
            _uuid_value(r.user_id),
            r.model,
            r.deployment_id,
            r.prompt_tokens,
            r.completion_tokens,
            cost,
            float(r.latency_ms),
            None if r.ttft_ms is None else float(r.ttft_ms),
            r.status,
            r.error_type,
            r.stream,
            r.end_user,
            r.tokens_estimated,
            created_at,
            r.request_id,
        )
    chat_calls = {key for key, _ in chats.values()}
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            # A savepoint (see _COPY_LOGS); psycopg's own cursor's errors as Django's, so that a
            # connection lost under the COPY is an OperationalError (503) and marked unusable.
            with transaction.atomic(), connection.wrap_database_errors:
                ids = _copy_new(cursor.cursor, rows, deltas_of(deltas), chat_calls)
            stored = len(rows)
        except IntegrityError as exc:
            if not isinstance(exc.__cause__, UniqueViolation):
                raise
            ids = _insert_skipping_stored(cursor, rows)
            stored = len(ids)
        stored_chats = [
            ChatHistory(
                call_id=r.call_id,
                request_log_id=ids[key],
                model=r.model,
                org_id=_uuid_or_none(r.org_id),
                key_id=_uuid_or_none(r.key_id),
                messages=r.chat.get("messages"),
                response=r.chat.get("response"),
                created_at=key[1],
            )
            for key, r in chats.values()
            if key in ids and r.chat is not None
        ]
        ChatHistory.objects.bulk_create(stored_chats)
    return IngestResult(inserted=stored, duplicates=len(records) - stored)


def _copy_new(
    cursor: Any, rows: dict[CallKey, Row], deltas: list[tuple[Any, ...]], chat_calls: set[CallKey]
) -> dict[CallKey, int]:
    """COPY every row (raises UniqueViolation if one is stored already) and the deltas; returns
    the ids of the rows that carry chats (the only ids needed, taken from the sequence first)."""
    ids: dict[CallKey, int] = {}
    if chat_calls:
        cursor.execute(_IDS, [len(chat_calls)])
        ids = {key: log_id for key, (log_id,) in zip(sorted(chat_calls), cursor.fetchall(), strict=True)}
    now = cursor.execute("SELECT now()").fetchone()[0]  # ingested_at: the transaction's start, as now() in SQL
    with cursor.copy(_COPY_LOGS) as copy:
        copy.set_types([*_LOG_TYPES, "timestamptz"])
        for key, row in rows.items():
            if key not in ids:
                copy.write_row((*row, now))
    if ids:
        with cursor.copy(_COPY_LOGS_WITH_IDS) as copy:
            copy.set_types(["int8", *_LOG_TYPES, "timestamptz"])
            for key, log_id in ids.items():
                copy.write_row((log_id, *rows[key], now))
    with cursor.copy(_COPY_DELTAS) as copy:
        copy.set_types(_DELTA_TYPES)
        for delta in deltas:
            copy.write_row(delta)
    return ids


def _insert_skipping_stored(cursor: Any, rows: dict[CallKey, Row]) -> dict[CallKey, int]:
    """The idempotent path: the rows not stored yet, with their deltas; returns all their ids."""
    cursor.execute(_STAGE)
    cursor.execute("DELETE FROM request_logs_stage")  # empty unless a caller's transaction is still open
    with connection.wrap_database_errors, cursor.cursor.copy(_COPY_STAGE) as copy:
        copy.set_types(_LOG_TYPES)
        for row in rows.values():
            copy.write_row(row)
    cursor.execute(_INSERT)
    return {(call_id, created_at): log_id for log_id, call_id, created_at in cursor.fetchall()}


def chats_delete(*, organization: Organization, key_ids: list[uuid.UUID] | None, before: datetime | None,
                 by: User | None) -> int:  # fmt: skip
    """Delete the organization's chats (of these keys, older than ``before``); returns how many."""
    params: dict[str, Any] = {}
    where = LogFilter(organization.id, key_ids, end=before).where(params)
    deleted = delete_batched("chat_history", where, params)
    log.info("%d chats of organization %s deleted by %s", deleted, organization.id, by.pk if by else None)
    return deleted


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
        notification.refresh_from_db(fields=["read_at"])
    return notification


def retention_get(*, organization: Organization) -> dict[str, int | None]:
    policy = RetentionPolicy.objects.filter(organization=organization).first()
    logs, chats = effective_days(policy)
    return {
        "log_retention_days": policy.log_retention_days if policy else None,
        "chat_retention_days": policy.chat_retention_days if policy else None,
        "effective_log_retention_days": logs,
        "effective_chat_retention_days": chats,
        "platform_log_retention_days": settings.LOG_RETENTION_DAYS,
        "platform_chat_retention_days": settings.CHAT_RETENTION_DAYS,
    }


def retention_set(
    *, organization: Organization, changes: dict[str, int | None], by: User | None
) -> dict[str, int | None]:
    """Change how long the organization keeps its logs and chats (never longer than the platform)."""
    limits = {"log_retention_days": settings.LOG_RETENTION_DAYS, "chat_retention_days": settings.CHAT_RETENTION_DAYS}
    too_long = {name: f"At most {limits[name]} days." for name, days in changes.items() if days and days > limits[name]}
    if too_long:
        raise ApplicationError("Retention longer than the platform keeps.", code="invalid_request", details=too_long)
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(organization=organization)
        for name, days in changes.items():
            setattr(policy, name, days)
        policy.save()
    log.info("retention of organization %s set to %s by %s", organization.id, changes, by.pk if by else None)
    return retention_get(organization=organization)
