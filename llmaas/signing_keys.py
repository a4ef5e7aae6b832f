"""The RSA keys that sign OIDC ID tokens and JWT access tokens (RS256).

One active key signs; previous keys stay published in the JWKS (and accepted by the API) while
tokens they signed may still be alive, so a rotation never logs anyone out:

- ``LLMAAS_OIDC_PRIVATE_KEY`` (PEM text) or ``LLMAAS_OIDC_PRIVATE_KEY_FILE`` (a PEM file,
  e.g. a mounted secret): the active key;
- ``LLMAAS_OIDC_PREVIOUS_KEYS_FILE``: a PEM file holding the keys retired during the overlap
  (any number, one after another); empty after the overlap (≥ the access-token and ID-token
  lifetimes).

Production refuses to start without a key. Dev and tests, with neither set, use a key generated
once into ``<state dir>/oidc_private_key.pem`` (0600) that every process of the stack shares.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk

from llmaas.env import envstr, is_production

_PEM_BLOCK = re.compile(r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+?-----END (?:RSA )?PRIVATE KEY-----", re.S)


@dataclass(frozen=True)
class SigningKeys:
    active_pem: str
    previous_pems: tuple[str, ...]

    @cached_property
    def active(self) -> jwk.JWK:
        return jwk.JWK.from_pem(self.active_pem.encode())

    @cached_property
    def by_kid(self) -> dict[str, jwk.JWK]:
        """Every key a token may name in its ``kid``: the active one and the previous ones."""
        keys = [self.active, *(jwk.JWK.from_pem(pem.encode()) for pem in self.previous_pems)]
        return {key.thumbprint(): key for key in keys}

    @property
    def active_kid(self) -> str:
        return self.active.thumbprint()


def _read(path: str, name: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}: cannot read {path!r} ({exc.strerror})") from exc


def _pem_blocks(text: str, name: str) -> tuple[str, ...]:
    blocks = tuple(_PEM_BLOCK.findall(text))
    for block in blocks:
        try:
            key = jwk.JWK.from_pem(block.encode())
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{name} holds a key that is not a PEM private key") from exc
        if key.get("kty") != "RSA":
            raise ImproperlyConfigured(f"{name} must hold RSA keys (RS256)")
    return blocks


def _dev_key(state_dir: Path) -> str:
    """A key generated once for this checkout; written atomically so concurrent workers agree."""
    path = state_dir / "oidc_private_key.pem"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        pem = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        try:
            os.link(tmp, path)  # fails if another process won the race: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text()


def load_signing_keys(state_dir: Path) -> SigningKeys:
    text = envstr("LLMAAS_OIDC_PRIVATE_KEY")
    name = "LLMAAS_OIDC_PRIVATE_KEY"
    if not text and envstr("LLMAAS_OIDC_PRIVATE_KEY_FILE"):
        name = "LLMAAS_OIDC_PRIVATE_KEY_FILE"
        text = _read(envstr(name), name)
    if not text:
        if is_production():
            raise ImproperlyConfigured(
                "Set LLMAAS_OIDC_PRIVATE_KEY or LLMAAS_OIDC_PRIVATE_KEY_FILE (an RSA private key, PEM) in production"
            )
        text = _dev_key(state_dir)
    active = _pem_blocks(text, name)
    if len(active) != 1:
        raise ImproperlyConfigured(f"{name} must hold exactly one PEM private key, found {len(active)}")
    previous_file = envstr("LLMAAS_OIDC_PREVIOUS_KEYS_FILE")
    previous: tuple[str, ...] = ()
    if previous_file:
        previous = _pem_blocks(_read(previous_file, "LLMAAS_OIDC_PREVIOUS_KEYS_FILE"), "LLMAAS_OIDC_PREVIOUS_KEYS_FILE")
    return SigningKeys(active_pem=active[0], previous_pems=previous)
