"""Usage records and raw sums for the usage tests: data goes in through the real ingest."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from inference.models import ModelDeployment
from inference.proxy.contract import UsageRecord
from inference.services import deployment_set
from usage.models import RequestLog
from usage.rollups import deltas_insert
from usage.services import request_logs_ingest

STATUSES = ("success",) * 8 + ("failure", "cancelled", "rejected", "rate_limited")


def priced_models() -> list[str]:
    specs = {"alpha": ("0.15", "0.60"), "beta": ("1.5", "2.5"), "gamma": ("0.01", "0.02")}
    for name, (price_in, price_out) in specs.items():
        if not ModelDeployment.objects.filter(name=name).exists():
            deployment_set(
                name=name,
                backend_url="http://127.0.0.1:9/v1",
                upstream_model=name,
                context_window=4096,
                input_price_per_mtok=Decimal(price_in),
                output_price_per_mtok=Decimal(price_out),
            )
    return list(specs)


def record(org_id: object, key_id: object, when: datetime, **fields: object) -> UsageRecord:
    base: dict[str, object] = {
        "call_id": "c-" + uuid.uuid4().hex,
        "org_id": str(org_id),
        "key_id": str(key_id),
        "user_id": None,
        "model": "alpha",
        "deployment_id": None,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "latency_ms": 10.0,
        "ttft_ms": None,
        "status": "success",
        "error_type": None,
        "stream": False,
        "end_user": None,
        "created_at": when.timestamp(),
    }
    base.update(fields)
    return UsageRecord(**base)  # type: ignore[arg-type]


@dataclass
class Traffic:
    org_id: uuid.UUID
    keys: list[uuid.UUID]
    models: list[str]
    end_users: list[str | None]
    start: datetime
    end: datetime


def random_records(t: Traffic, count: int, rng: random.Random) -> list[UsageRecord]:
    span = (t.end - t.start).total_seconds()
    return [
        record(
            t.org_id,
            rng.choice(t.keys),
            t.start + timedelta(seconds=rng.random() * span),
            model=rng.choice(t.models),
            end_user=rng.choice(t.end_users),
            status=rng.choice(STATUSES),
            prompt_tokens=rng.randint(0, 5000),
            completion_tokens=rng.randint(0, 2000),
        )
        for _ in range(count)
    ]


def ingest(records: list[UsageRecord]) -> int:
    inserted = 0
    for i in range(0, len(records), 500):
        inserted += request_logs_ingest(records=records[i : i + 500]).inserted
    return inserted


GROUP_SQL = {None: "NULL::text", "model": "model", "key": "key_id::text", "end_user": "coalesce(end_user, '')"}


def raw_rows(
    org_id: object,
    start: datetime,
    end: datetime,
    granularity: str,
    group_by: str | None = None,
    key_ids: list[uuid.UUID] | None = None,
    models: list[str] | None = None,
) -> dict[tuple[object, object], tuple[int, int, int, int, Decimal]]:
    """The summary computed the slow, obvious way: one scan of request_logs."""
    bucket = "NULL::timestamptz" if granularity == "total" else f"date_trunc('{granularity}', created_at, 'UTC')"
    where = "org_id = %s AND created_at >= %s AND created_at < %s"
    params: list[Any] = [org_id, start, end]
    if key_ids is not None:
        where += " AND key_id = ANY(%s)"
        params.append(key_ids)
    if models is not None:
        where += " AND model = ANY(%s)"
        params.append(models)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bucket}, {GROUP_SQL[group_by]}, count(*), count(*) FILTER (WHERE status <> 'success'), "
            f"sum(prompt_tokens), sum(completion_tokens), sum(cost) FROM request_logs WHERE {where} GROUP BY 1, 2",
            params,
        )
        return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5]), Decimal(r[6])) for r in cursor.fetchall()}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def spend_logged(key: Any, cost: str, when: datetime | None = None) -> None:
    """One successful call of ``key`` costing ``cost`` USD, written like the ingest writes it:
    with its deltas, in its transaction."""
    log = RequestLog.objects.create(
        call_id=f"c-{uuid.uuid4().hex}",
        org_id=key.organization_id,
        key_id=key.id,
        model="tiny",
        prompt_tokens=1,
        completion_tokens=1,
        cost=Decimal(cost),
        latency_ms=1,
        status="success",
        stream=False,
        created_at=when or datetime.now(UTC),
    )
    with connection.cursor() as cursor:
        cursor.execute(deltas_insert("(SELECT * FROM request_logs WHERE id = %s) AS one"), [log.id])
