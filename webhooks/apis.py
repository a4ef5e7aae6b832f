"""Inbound webhooks. ``POST /api/webhooks/litellm``: usage records from the shipper.

Body: ``{"records": [<UsageRecord>, …]}``, signed (inference/proxy/signing.py). Forged or
stale → 401 and nothing written; too large → 413; each valid record is stored once by its
call id, so a redelivered batch answers 200 and writes nothing new. Records that cannot be
stored (off the contract, refused by the database, older than their organization's retention)
are reported back in ``rejected`` with a reason (the shipper dead-letters them) while the others
are stored: no record can fail its batch. Only a database that is down answers 503 (retried).
"""

import json
import logging
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inference.proxy.contract import ContractError, UsageRecord
from inference.proxy.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from llmaas.metrics import WEBHOOK_BATCH, WEBHOOK_RECORDS
from usage.services import REASON_CONTRACT, check_ids, request_logs_ingest_isolating

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def _read_bounded(request: HttpRequest, limit: int) -> bytes | None:
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _decode(body: bytes) -> Any:
    """The body's JSON: orjson (several times faster on a batch of records), else the standard
    library, which also reads what orjson refuses and the contract then judges record by record
    (a lone surrogate in a string, an integer past 64 bits): one such record never fails its batch."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


@csrf_exempt
@require_POST
def litellm_usage_webhook(request: HttpRequest) -> JsonResponse:
    limit = settings.WEBHOOK_MAX_BYTES
    body = _read_bounded(request, limit)
    if body is None:
        return _error(413, "payload_too_large", f"The body is larger than {limit} bytes; send smaller batches.")
    problem = verify(
        settings.WEBHOOK_SECRET,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        body,
    )
    if problem:
        log.warning("usage webhook refused: %s", problem)
        return _error(401, "invalid_signature", "The request is not signed with the shared secret, or is stale.")
    try:
        payload = _decode(body)
        raw_records = payload["records"]
        if not isinstance(raw_records, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _error(400, "invalid_request", 'The body must be JSON: {"records": [ … ]}.')

    records: list[UsageRecord] = []
    positions: list[int] = []  # each record's index in the batch
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_records):
        try:
            if not isinstance(raw, dict):
                raise ContractError("not an object")
            record = UsageRecord.from_dict(raw)
            check_ids(record)
        except (ContractError, ValueError) as exc:
            rejected.append({"index": index, "reason": REASON_CONTRACT, "error": str(exc)[:200]})
            continue
        records.append(record)
        positions.append(index)
    try:
        result = request_logs_ingest_isolating(records=records)
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # psycopg's own errors too: the ingest COPYs on its cursor (wrapped, but any raw use must
        # still answer 503). Nothing is lost: the shipper keeps the batch and delivers it again.
        log.warning("usage webhook: database unavailable (%s)", exc)
        response = _error(503, "database_unavailable", "The database is unavailable; deliver the batch again.")
        response["Retry-After"] = "5"
        return response
    rejected += [{"index": positions[r.index], "reason": r.reason, "error": r.error} for r in result.rejected]
    if rejected:
        rejected.sort(key=lambda r: int(r["index"]))
        log.error("usage webhook rejected %d records: %s", len(rejected), rejected[:5])
    WEBHOOK_BATCH.observe(len(raw_records))
    WEBHOOK_RECORDS.labels("inserted").inc(result.inserted)
    WEBHOOK_RECORDS.labels("duplicate").inc(result.duplicates)
    WEBHOOK_RECORDS.labels("rejected").inc(len(rejected))
    return JsonResponse(
        {
            "received": len(raw_records),
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "rejected": rejected,
        }
    )
