"""Counting attempts in Redis: failed logins per client IP and per (account, IP), mails per IP
and per address. Fixed windows: a counter lives ``window`` seconds from its first hit; at the
limit, callers are refused (429, ``Retry-After`` = the counter's remaining life) without
being looked at further, so a correct password does not get through a lockout.

Sign-in failures lock the address that failed, never the account for everyone: an attacker who
knows an email address can refuse only themselves, and the owner, from an address that did not
fail, still signs in with the right password. An address failing on many accounts is refused
for all of them.

Redis unreachable → 503: throttling fails closed, like the proxy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis
from django.conf import settings

from llmaas.errors import ServiceUnavailable, TooManyRequests
from llmaas.redis_client import redis_client


@dataclass(frozen=True)
class Counter:
    scope: str  # e.g. "login:account"
    subject: str  # what is counted (an email, an IP); stored only as a hash
    limit: int
    window: int  # seconds

    @property
    def name(self) -> str:
        digest = hashlib.sha256(self.subject.encode("utf-8")).hexdigest()[:32]
        return f"{settings.REDIS_PREFIX}:throttle:{self.scope}:{digest}"


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("Sign-in is briefly unavailable; try again shortly.", code="throttle_unavailable")


def throttle_check(counters: list[Counter], *, message: str, code: str) -> None:
    """Raise 429 if any counter is at its limit."""
    pipe = redis_client().pipeline(transaction=False)
    for counter in counters:
        pipe.get(counter.name)
        pipe.pttl(counter.name)
    try:
        values = pipe.execute()
    except redis.RedisError:
        raise _unavailable() from None
    waits = [
        max(ttl, 1000) / 1000
        for counter, count, ttl in zip(counters, values[0::2], values[1::2], strict=True)
        if count is not None and int(count) >= counter.limit
    ]
    if waits:
        raise TooManyRequests(message, retry_after=max(waits), code=code)


def throttle_hit(counters: list[Counter]) -> list[Counter]:
    """Count one attempt on each counter; returns those that just reached their limit."""
    pipe = redis_client().pipeline(transaction=True)
    for counter in counters:
        pipe.incr(counter.name)
        pipe.expire(counter.name, counter.window, nx=True)
    try:
        values = pipe.execute()
    except redis.RedisError:
        raise _unavailable() from None
    return [counter for counter, count in zip(counters, values[0::2], strict=True) if int(count) == counter.limit]


def throttle_clear(counter: Counter) -> None:
    try:
        redis_client().delete(counter.name)
    except redis.RedisError:
        raise _unavailable() from None


def login_account_counter(*, email: str, ip: str | None) -> Counter:
    """Failures on one account from one address (from anywhere, when the address is unknown)."""
    subject = email.lower() if ip is None else f"{email.lower()}\n{ip}"
    scope = "login:account" if ip is None else "login:account-ip"
    return Counter(scope, subject, settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURE_WINDOW)


def login_counters(*, email: str, ip: str | None) -> list[Counter]:
    """The account's counter from this address first (what a success clears), then the address's."""
    counters = [login_account_counter(email=email, ip=ip)]
    if ip:
        counters.append(Counter("login:ip", ip, settings.LOGIN_FAILURES_PER_IP, settings.LOGIN_FAILURE_WINDOW))
    return counters


def email_counters(*, kind: str, email: str, ip: str | None) -> list[Counter]:
    """Mails we send on request (sign-up, reset, resend): per client IP and per address, hourly."""
    counters = [Counter(f"mail:{kind}:address", email.lower(), settings.EMAIL_REQUESTS_PER_ADDRESS, 3600)]
    if ip:
        counters.append(Counter("mail:ip", ip, settings.EMAIL_REQUESTS_PER_IP, 3600))
    return counters
