"""Counting attempts in Redis: sign-ins per client address, per (account, address) and per
account; mails per address and per email. Fixed windows: a counter lives ``window`` seconds
from its first hit; at the limit, callers are refused (429, ``Retry-After`` = the counter's
remaining life) without being looked at further, so a correct password does not get through.

Sign-in failures lock the address that failed, never the account for everyone: an attacker who
knows an email address can refuse only themselves, and the owner, from an address that did not
fail, still signs in with the right password. An address failing on many accounts is refused
for all of them. An account failing from many addresses is slowed, not locked: past
``LOGIN_ACCOUNT_SLOWDOWN_AFTER`` failures in the window, an address that failed on it once is
refused, so each address gets one guess, and a clean address is still checked.

A sign-in takes its place in the counts before its password is checked (one Lua script: refuse,
or count), so parallel requests cannot all pass a check made before any of them failed; a
success gives its place back. An IPv6 client counts by its /64 (one host holds a whole /64); a
client whose address is unknown counts in one bucket of its own, "unknown", and is logged.

Redis unreachable → 503: throttling fails closed, like the proxy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

import redis
from django.conf import settings

from llmaas.errors import ServiceUnavailable, TooManyRequests
from llmaas.redis_client import redis_client

logger = logging.getLogger(__name__)

UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class Counter:
    scope: str  # e.g. "login:account"
    subject: str  # what is counted (an email, an IP); stored only as a hash
    limit: int
    window: int  # seconds

    @property
    def name(self) -> str:
        # One hash tag for every throttle counter: a sign-in's script and a hit's MULTI span
        # counters of several subjects (address, account), which a Redis Cluster runs in one slot.
        digest = hashlib.sha256(self.subject.encode("utf-8")).hexdigest()[:32]
        return f"{settings.REDIS_PREFIX}:{{throttle}}:{self.scope}:{digest}"


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


def address_bucket(ip: str | None) -> str:
    """What a client address counts as: itself (IPv4), its /64 (IPv6), or ``"unknown"``."""
    if ip is None:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


# --- sign-in ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginCounters:
    ip: Counter  # failures from this address on any account
    account_ip: Counter  # failures on this account from this address
    account: Counter  # failures on this account from anywhere: past its limit, the account is slowed

    @property
    def keys(self) -> list[str]:
        return [self.ip.name, self.account_ip.name, self.account.name]


def login_counters(*, email: str, ip: str | None) -> LoginCounters:
    if ip is None:
        logger.warning("sign-in throttling: the client's address is unknown, counted as %r", UNKNOWN_ADDRESS)
    address = address_bucket(ip)
    window = settings.LOGIN_FAILURE_WINDOW
    email = email.lower()
    return LoginCounters(
        ip=Counter("login:ip", address, settings.LOGIN_FAILURES_PER_IP, window),
        account_ip=Counter("login:account-ip", f"{email}\n{address}", settings.LOGIN_FAILURES_PER_ACCOUNT, window),
        account=Counter("login:account", email, settings.LOGIN_ACCOUNT_SLOWDOWN_AFTER, window),
    )


# KEYS: ip, account-ip, account. ARGV: their limits (the account's: where it is slowed), window.
# Refuses with the wait in ms, or counts the attempt on all three and returns the new counts.
_LOGIN_RESERVE = """
local counts = {}
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[4], 'NX')
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
local refused, wait = false, 0
if counts[1] >= tonumber(ARGV[1]) then refused, wait = true, math.max(wait, redis.call('PTTL', KEYS[1])) end
if counts[2] >= tonumber(ARGV[2]) then refused, wait = true, math.max(wait, redis.call('PTTL', KEYS[2])) end
if counts[2] >= 1 and counts[3] >= tonumber(ARGV[3]) then
  refused, wait = true, math.max(wait, math.min(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[3])))
end
if refused then return {0, wait} end
for i = 1, 3 do
  counts[i] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[4], 'NX')
end
return {1, counts[1], counts[2], counts[3]}
"""

# KEYS: ip, account-ip, account. A success clears the account's count from this address and
# gives back its place in the other two (never below zero, never a key without its window).
_LOGIN_RELEASE = """
redis.call('DEL', KEYS[2])
for _, key in ipairs({KEYS[1], KEYS[3]}) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 1
"""


def login_reserve(counters: LoginCounters, *, message: str) -> list[Counter]:
    """Take this attempt's place in the counts, or raise 429 (not counted) if the address may
    not try now. Returns the counters this attempt brought to their limit (a lock if it fails)."""
    limits = [counters.ip.limit, counters.account_ip.limit, counters.account.limit]
    try:
        answer = redis_client().eval(_LOGIN_RESERVE, 3, *counters.keys, *limits, counters.ip.window)
    except redis.RedisError:
        raise _unavailable() from None
    if int(answer[0]) == 0:
        raise TooManyRequests(message, retry_after=max(int(answer[1]), 1000) / 1000, code="too_many_attempts")
    reached = zip((counters.ip, counters.account_ip, counters.account), answer[1:], strict=True)
    return [counter for counter, count in reached if int(count) == counter.limit]


def login_release(counters: LoginCounters) -> None:
    """The attempt succeeded: clear the account's count from this address, give back its place."""
    try:
        redis_client().eval(_LOGIN_RELEASE, 3, *counters.keys)
    except redis.RedisError:
        raise _unavailable() from None


def login_clear_address(*, email: str, ip: str | None) -> None:
    """Forget an account's failures from one address (its owner proved who they are)."""
    try:
        redis_client().delete(login_counters(email=email, ip=ip).account_ip.name)
    except redis.RedisError:
        raise _unavailable() from None


def email_counters(*, kind: str, email: str, ip: str | None) -> list[Counter]:
    """Mails we send on request (sign-up, reset, resend): per client address and per email, hourly."""
    counters = [Counter(f"mail:{kind}:address", email.lower(), settings.EMAIL_REQUESTS_PER_ADDRESS, 3600)]
    if ip:
        counters.append(Counter("mail:ip", address_bucket(ip), settings.EMAIL_REQUESTS_PER_IP, 3600))
    return counters
