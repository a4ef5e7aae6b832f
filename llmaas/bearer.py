"""OAuth2 Bearer access tokens on the REST API: JWTs (RS256) checked without a database query.

The authorization server (``oauth/``) signs an access token with the active key of
`llmaas.signing_keys`; here the API checks its signature (by ``kid``, so tokens signed by a
retired key still pass during the overlap), issuer, expiry and type, and asks Redis whether it
was revoked (one ``EXISTS``: revocation, refresh-token reuse, a revoked grant, RP-initiated
logout and account deactivation all deny-list the tokens they kill, by checksum, until they
expire).

A token grants the scopes it carries and no more; each API view declares the scope each method
needs (``required_scopes``) and `ScopePermission` enforces it, beside the role check of
``OrgContext.require``: a token can never do more than its user's role, nor more than its scopes.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from jwcrypto import jws, jwt
from jwcrypto.common import JWException
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from llmaas.errors import Forbidden, Unauthorized
from llmaas.redis_client import redis_client, redis_unavailable
from llmaas.scopes import SCOPES, SESSION_ONLY
from llmaas.signing_keys import SigningKeys

if TYPE_CHECKING:
    from rest_framework.views import APIView

JWT_TYPE = "at+jwt"  # RFC 9068: an access token cannot be confused with an ID token


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says; ``request.auth`` on a Bearer request."""

    user_id: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def _issuer() -> str:
    return settings.OIDC_ISSUER


def access_token_encode(
    *, keys: SigningKeys, user_id: str, client_id: str, scopes: list[str], lifetime: int, now: float | None = None
) -> tuple[str, AccessClaims]:
    """Sign a new access token with the active key; returns the token and its claims."""
    issued = int(now if now is not None else time.time())
    claims = AccessClaims(
        user_id=user_id,
        client_id=client_id,
        scopes=frozenset(scopes),
        jti=uuid.uuid4().hex,
        issued_at=issued,
        expires_at=issued + lifetime,
    )
    payload = {
        "iss": _issuer(),
        "sub": user_id,
        "aud": _issuer() + "/api/",
        "client_id": client_id,
        "scope": " ".join(sorted(claims.scopes)),
        "jti": claims.jti,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
    }
    token = jwt.JWT(header={"alg": "RS256", "kid": keys.active_kid, "typ": JWT_TYPE}, claims=payload)
    token.make_signed_token(keys.active)
    return token.serialize(), claims


class InvalidToken(Exception):
    pass


def _invalid(reason: str) -> Unauthorized:
    return Unauthorized(
        f"The access token is not valid: {reason}.",
        code="invalid_token",
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


@lru_cache(maxsize=1)
def _keys() -> SigningKeys:
    keys: SigningKeys = settings.OIDC_SIGNING_KEYS
    return keys


def access_token_decode(token: str, *, keys: SigningKeys | None = None, now: float | None = None) -> AccessClaims:
    """Check a token's signature, type, issuer, audience and lifetime. No database, no Redis."""
    keys = keys or _keys()
    try:
        signed = jws.JWS()
        signed.deserialize(token)
        header = signed.jose_header
        if not isinstance(header, Mapping) or header.get("alg") != "RS256" or header.get("typ") != JWT_TYPE:
            raise InvalidToken("not an access token")
        key = keys.by_kid.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown signing key")
        signed.verify(key, alg="RS256")
        payload: Any = json.loads(signed.payload)
    except (JWException, ValueError, TypeError) as exc:
        raise InvalidToken("bad signature or malformed token") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("malformed claims")
    moment = now if now is not None else time.time()
    try:
        exp, iat = int(payload["exp"]), int(payload["iat"])
        sub, client_id, jti, scope = (str(payload[k]) for k in ("sub", "client_id", "jti", "scope"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("missing claims") from exc
    if payload.get("iss") != _issuer() or payload.get("aud") != _issuer() + "/api/":
        raise InvalidToken("issued for another server")
    if exp <= moment:
        raise InvalidToken("expired")
    return AccessClaims(
        user_id=sub, client_id=client_id, scopes=frozenset(scope.split()), jti=jti, issued_at=iat, expires_at=exp
    )


def token_checksum(token: str) -> str:
    """The SHA-256 of a token, as DOT stores it (``token_checksum``): the deny list's key, so a
    token is deny-listed without its text being stored anywhere."""
    return hashlib.sha256(token.encode()).hexdigest()


def _revoked_key(checksum: str) -> str:
    return f"{settings.REDIS_PREFIX}:oauth:revoked:{checksum}"


def access_tokens_deny(checksums_and_expiry: list[tuple[str, int]]) -> None:
    """Deny-list tokens (by checksum) until they expire: the API refuses them from now on."""
    now = int(time.time())
    pipe = redis_client().pipeline(transaction=False)
    for checksum, expires_at in checksums_and_expiry:
        if expires_at > now:
            pipe.set(_revoked_key(checksum), 1, ex=expires_at - now + 1)
    pipe.execute()


def _load_user(user_id: str) -> Any:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user if user is not None else AnonymousUser()


class BearerAuthentication(BaseAuthentication):
    """``Authorization: Bearer <JWT>``. The user row is read lazily (most views need it anyway);
    checking the token itself costs no query."""

    def authenticate(self, request: Request) -> tuple[Any, AccessClaims] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token or len(token) > 8192:
            raise _invalid("missing or oversized token")
        try:
            claims = access_token_decode(token)
        except InvalidToken as exc:
            raise _invalid(str(exc)) from None
        try:
            revoked = redis_client().exists(_revoked_key(token_checksum(token)))
        except redis.RedisError as exc:
            raise redis_unavailable("Token checking") from exc
        if revoked:
            raise _invalid("revoked")
        return SimpleLazyObject(lambda: _load_user(claims.user_id)), claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def required_scope(view: APIView, method: str) -> str | None:
    """The scope a view declares for a method (``required_scopes``: method → scope); None if
    it declares none (then a token may not call it)."""
    declared: dict[str, str] = getattr(view, "required_scopes", {})
    return declared.get(method.upper()) or declared.get("*")


class ScopePermission(BasePermission):
    """A Bearer request needs the scope its view declares for the method; sessions are not
    affected (their limit is the role). Undeclared means session only: default deny.

    It runs before IsAuthenticated (settings): the token of a user deactivated or deleted since
    it was issued is refused with 401 ``invalid_token`` (DRF would answer IsAuthenticated's
    refusal with a 403, as the token itself authenticated)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        claims = request.auth
        if not isinstance(claims, AccessClaims):
            return True
        if not request.user or not request.user.is_authenticated:
            raise _invalid("the account is not active")
        method = (request.method or "GET").upper()
        if method == "HEAD":
            method = "GET"  # Django answers HEAD with the view's GET
        elif method == "OPTIONS" or method.lower() not in view.http_method_names or not hasattr(view, method.lower()):
            return True  # DRF's description of the endpoint (as public as the schema), or a 405
        scope = required_scope(view, method)
        if scope is None or scope == SESSION_ONLY:
            raise Forbidden(
                "This endpoint is not available with an OAuth access token; use the portal session.",
                code="session_required",
            )
        if not claims.has(scope):
            raise Forbidden(
                f"The access token lacks the {scope!r} scope this call needs.",
                code="insufficient_scope",
                details={"required_scope": scope, "token_scopes": sorted(claims.scopes)},
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return True


class BearerScheme(OpenApiAuthenticationExtension):
    """OAuth2 (authorization code + PKCE) in the OpenAPI schema, with each operation's scope."""

    target_class = "llmaas.bearer.BearerAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        base = settings.PUBLIC_URL
        return {
            "type": "oauth2",
            "description": "JWT access tokens (RS256) from this server's OAuth2 / OpenID Connect provider; "
            "PKCE (S256) required. Discovery: /.well-known/openid-configuration.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{base}/o/authorize/",
                    "tokenUrl": f"{base}/o/token/",
                    "refreshUrl": f"{base}/o/token/",
                    "scopes": SCOPES,
                }
            },
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]] | list[dict[str, list[str]]]:
        """``{"oauth2": [scope]}``, the one scope the operation needs; for a session-only one, no
        requirement at all (drf-spectacular extends the operation's list with this one, so it lists
        only the session scheme: a token cannot call it, whatever its scopes)."""
        scope = required_scope(auto_schema.view, auto_schema.method)
        if scope is None or scope == SESSION_ONLY:
            return []
        return {self.name: [scope]}
