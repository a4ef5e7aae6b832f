"""``POST /api/webhooks/stripe``: Stripe's events, verified with the library's own
``stripe.Webhook.construct_event`` against ``STRIPE_WEBHOOK_SECRET`` (forged, unsigned or
older than the tolerance → 400, nothing read further), then applied once per event id
(services.stripe_event_process); a duplicate answers 200 and changes nothing. A database that is
down answers 503 and Stripe delivers again.
"""

from __future__ import annotations

import logging

import stripe
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services import stripe_event_process

log = logging.getLogger(__name__)
MAX_BYTES = 512 * 1024


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    body = request.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        return _error(413, "payload_too_large", "The event is too large.")
    try:
        event = stripe.Webhook.construct_event(
            body,
            request.headers.get("Stripe-Signature"),
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError:
        log.warning("stripe webhook refused: bad, missing or stale signature")
        return _error(400, "invalid_signature", "The event is not signed with the endpoint's secret, or is stale.")
    except ValueError:
        return _error(400, "invalid_payload", "The body is not a Stripe event.")
    try:
        applied = stripe_event_process(event=event)
    except (OperationalError, InterfaceError):
        response = _error(503, "database_unavailable", "The database is unavailable; deliver the event again.")
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"received": True, "duplicate": not applied})
