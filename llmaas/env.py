"""Tiny helpers that read settings from the environment (12-factor), with safe dev defaults.

In production (`LLMAAS_ENV=production`) a secret without a value, or with its development
value, refuses to start the process; so does a broker URL with RabbitMQ's default guest account.
"""

import ipaddress
import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envnetworks(name: str, default: str = "") -> list[str]:
    """A list of IP networks (CIDR, or single addresses), checked at start-up."""
    items = envlist(name, default)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from exc
    return items


def is_production() -> bool:
    return envstr("LLMAAS_ENV", "dev") == "production"


def envsecret(name: str, dev_default: str) -> str:
    """A secret: required in production (and not the development value), a fixed insecure value
    in dev and tests."""
    value = os.environ.get(name, "")
    if is_production() and value == dev_default:
        raise ImproperlyConfigured(f"{name} is the development value; set a real secret in production")
    if value:
        return value
    if is_production():
        raise ImproperlyConfigured(f"{name} must be set in production")
    return dev_default


def envbroker(name: str, dev_default: str) -> str:
    """A message broker URL: in production it must be set, and not with the ``guest`` account
    (RabbitMQ's well-known default credentials)."""
    value = os.environ.get(name, "")
    if is_production():
        if not value:
            raise ImproperlyConfigured(f"{name} must be set in production")
        if urlsplit(value).username == "guest":
            raise ImproperlyConfigured(f"{name} uses the guest account; give the broker a real user in production")
    return value or dev_default
