"""Inbound webhooks. ``POST /api/webhooks/litellm``: usage records from the shipper.

Body: ``{"records": [<UsageRecord>, …]}``, signed (inference/proxy/signing.py). Forged or
stale → 401 and nothing written; too large → 413; each valid record is stored once by its
call id, so a redelivered batch answers 200 and writes nothing new. Invalid records are
reported back (and not retried by the shipper) while the valid ones are stored.
"""

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inference.proxy.contract import ContractError, UsageRecord
from inference.proxy.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from usage.services import check_ids, request_logs_ingest

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
        payload = json.loads(body)
        raw_records = payload["records"]
        if not isinstance(raw_records, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _error(400, "invalid_request", 'The body must be JSON: {"records": [ … ]}.')

    records: list[UsageRecord] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_records):
        try:
            if not isinstance(raw, dict):
                raise ContractError("not an object")
            record = UsageRecord.from_dict(raw)
            check_ids(record)
        except (ContractError, ValueError) as exc:
            rejected.append({"index": index, "error": str(exc)[:200]})
            continue
        records.append(record)
    result = request_logs_ingest(records=records)
    if rejected:
        log.error("usage webhook rejected %d invalid records: %s", len(rejected), rejected[:5])
    return JsonResponse(
        {
            "received": len(raw_records),
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "rejected": rejected,
        }
    )
