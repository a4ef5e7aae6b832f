"""The configured Stripe client (the ``stripe`` library). ``STRIPE_API_BASE`` points it at
another origin (tests: a local server speaking Stripe's API); without ``STRIPE_API_KEY`` billing
runs without Stripe: Checkout answers 503 and the meter export skips."""

from __future__ import annotations

import stripe
from django.conf import settings

from llmaas.errors import ServiceUnavailable


def stripe_configured() -> bool:
    return bool(settings.STRIPE_API_KEY)


def stripe_client() -> stripe.StripeClient:
    if not stripe_configured():
        raise ServiceUnavailable("Payments are not configured on this service.", code="billing_unavailable")
    base = settings.STRIPE_API_BASE
    addresses: dict[str, str] = {"api": base, "meter_events": base} if base else {}
    return stripe.StripeClient(settings.STRIPE_API_KEY, base_addresses=addresses, max_network_retries=2)  # type: ignore[arg-type]


def stripe_failed(exc: stripe.StripeError) -> ServiceUnavailable:
    """Stripe refused or could not be reached: the client may retry (no details of ours leak)."""
    return ServiceUnavailable(
        f"The payment provider did not complete the request ({type(exc).__name__}); try again shortly.",
        code="payment_provider_error",
    )
