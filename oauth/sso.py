"""Enterprise SSO: LLMaaS as an OpenID Connect relying party of an upstream provider.

The flow: ``sso_flow_start`` builds the authorization request (code flow, PKCE S256, state and
nonce, kept in the session by the view); ``sso_flow_finish`` checks the callback's state (and
``iss``, RFC 9207), exchanges the code at the token endpoint with the client secret, validates
the ID token against the provider's JWKS (RS256, iss, aud, exp, nonce) and reads the user's
email, name and groups from it (userinfo fills in what it lacks); ``sso_log_in`` finds or
creates the local account, applies the group mappings and starts the session.

Accounts: an upstream identity (issuer, subject) is linked to one local user. On first login an
existing local account with the same address is linked only if the provider says the address is
verified (or is trusted, ``SSO_TRUSTED``); otherwise a new account is created without a usable
password: approved and verified when the provider is trusted, else like a sign-up (approved at
``ALLOWED_DOMAINS``, verified if the provider says so).

Group mappings (``SsoGroupMapping``, managed in the admin) are re-applied at every login: in each
organization that has a mapping, the user's role is the highest one among their mapped groups
(``ROLE_PRECEDENCE``); a user none of whose groups map there any more leaves it, unless they are
its last owner (kept, logged and noted in the sign-in's audit entry). Organizations without a
mapping are never touched.

Nothing here logs or audits a token, a code or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
from django.conf import settings
from django.contrib.auth import login
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException

from accounts.models import Membership, Organization, User
from accounts.roles import Role
from accounts.services import membership_set
from accounts.tasks import enqueue_on_commit, mail_verification
from accounts.user_services import email_mark_verified
from audit.models import AuditAction
from audit.services import audit_record
from oauth.models import SsoGroupMapping, SsoIdentity

logger = logging.getLogger(__name__)

# Several mapped groups give one organization's role: the first of these wins.
ROLE_PRECEDENCE = (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING, Role.VIEWER)
HTTP_TIMEOUT = 10  # seconds, for each call to the provider
METADATA_TTL = 300  # seconds the discovery document and the JWKS are reused
FLOW_TTL = 600  # seconds between sending the browser to the provider and its return
MAX_GROUPS = 500
SESSION_KEY = "llmaas_sso_flow"


class SsoError(Exception):
    """A log-in through the provider that cannot go on: shown to the user, never with a secret."""

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(frozen=True)
class SsoConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str
    groups_claim: str
    trusted: bool
    name: str


def sso_config() -> SsoConfig | None:
    """The provider from the settings, or None when SSO is off."""
    if not settings.SSO_ISSUER:
        return None
    return SsoConfig(
        issuer=settings.SSO_ISSUER,
        client_id=settings.SSO_CLIENT_ID,
        client_secret=settings.SSO_CLIENT_SECRET,
        scopes=settings.SSO_SCOPES,
        groups_claim=settings.SSO_GROUPS_CLAIM,
        trusted=settings.SSO_TRUSTED,
        name=settings.SSO_NAME,
    )


# --- the provider's metadata and keys (cached in this process) ------------------------------------
@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    token_auth_methods: tuple[str, ...]


_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: str) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _remember(key: str, value: Any) -> None:
    with _cache_lock:
        _cache[key] = (time.monotonic() + METADATA_TTL, value)


def sso_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _unreachable(what: str, exc: Exception) -> SsoError:
    logger.warning("sso: %s failed: %s", what, type(exc).__name__)
    return SsoError(
        "The sign-in provider cannot be reached right now; try again in a moment.", code="sso_unavailable", status=502
    )


def _get_json(url: str, what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        response = httpx.get(url, headers=headers, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise _unreachable(what, exc) from None
    if response.status_code != 200:
        logger.warning("sso: %s answered %s", what, response.status_code)
        raise SsoError("The sign-in provider answered with an error.", code="sso_upstream_error", status=502)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        logger.warning("sso: %s answered something that is not a JSON object", what)
        raise SsoError("The sign-in provider answered with an error.", code="sso_upstream_error", status=502)
    return body


def provider_metadata(config: SsoConfig) -> ProviderMetadata:
    """The provider's discovery document (OpenID Connect Discovery 1.0), checked: its issuer must
    be the configured one exactly."""
    key = f"discovery:{config.issuer}"
    metadata = _cached(key)
    if metadata is not None:
        return metadata
    doc = _get_json(f"{config.issuer}/.well-known/openid-configuration", "discovery")
    endpoints = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if doc.get("issuer") != config.issuer or not all(isinstance(doc.get(name), str) for name in endpoints):
        logger.warning("sso: the discovery document names another issuer or lacks an endpoint")
        raise SsoError(
            "The sign-in provider is misconfigured (its discovery document does not match).",
            code="sso_misconfigured",
            status=502,
        )
    methods = doc.get("token_endpoint_auth_methods_supported")
    metadata = ProviderMetadata(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=userinfo if isinstance(userinfo := doc.get("userinfo_endpoint"), str) else "",
        token_auth_methods=tuple(m for m in methods if isinstance(m, str)) if isinstance(methods, list) else (),
    )
    _remember(key, metadata)
    return metadata


def _jwks(uri: str, *, refresh: bool) -> jwk.JWKSet:
    key = f"jwks:{uri}"
    keys = None if refresh else _cached(key)
    if keys is None:
        try:
            keys = jwk.JWKSet.from_json(json.dumps(_get_json(uri, "jwks")))
        except JWException:
            logger.warning("sso: the provider's JWKS cannot be read")
            raise SsoError(
                "The sign-in provider's keys cannot be read.", code="sso_upstream_error", status=502
            ) from None
        _remember(key, keys)
    return keys


# --- the flow ------------------------------------------------------------------------------------
def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def sso_flow_start(*, config: SsoConfig, redirect_uri: str, next_url: str) -> tuple[str, dict[str, Any]]:
    """The provider's authorization URL, and what the session keeps until the callback."""
    metadata = provider_metadata(config)
    flow: dict[str, Any] = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(64),
        "next": next_url,
        "started": time.time(),
    }
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": _s256(flow["verifier"]),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in metadata.authorization_endpoint else "?"
    return f"{metadata.authorization_endpoint}{separator}{urlencode(params)}", flow


@dataclass(frozen=True)
class UpstreamUser:
    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str
    groups: list[str]


def _callback_code(config: SsoConfig, flow: Mapping[str, Any] | None, params: Mapping[str, str]) -> str:
    if not flow or not isinstance(flow.get("state"), str):
        raise SsoError("This sign-in was not started here (or was already used); start again.", code="sso_no_flow")
    if not secrets.compare_digest(str(params.get("state", "")), flow["state"]):
        logger.warning("sso: callback with a state that does not match the session's")
        raise SsoError("This sign-in does not match the one started here; start again.", code="sso_bad_state")
    if time.time() - float(flow.get("started", 0)) > FLOW_TTL:
        raise SsoError("This sign-in took too long; start again.", code="sso_expired")
    if "iss" in params and params["iss"] != config.issuer:  # RFC 9207: a mix-up with another provider
        raise SsoError("This answer comes from another provider; start again.", code="sso_bad_issuer")
    if params.get("error"):
        error = str(params["error"])[:64]
        message = "You declined to sign in." if error == "access_denied" else f"The provider refused: {error}."
        raise SsoError(message, code="sso_refused")
    code = params.get("code")
    if not code:
        raise SsoError("The provider sent no authorization code.", code="sso_no_code")
    return code


def _exchange(config: SsoConfig, metadata: ProviderMetadata, *, code: str, verifier: str, redirect_uri: str) -> dict:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    auth = None
    if "client_secret_basic" in metadata.token_auth_methods or not metadata.token_auth_methods:
        # RFC 6749 §2.3.1: both are form-encoded before Basic.
        auth = httpx.BasicAuth(quote_plus(config.client_id), quote_plus(config.client_secret))
    else:
        data |= {"client_id": config.client_id, "client_secret": config.client_secret}
    try:
        response = httpx.post(metadata.token_endpoint, data=data, auth=auth, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise _unreachable("token exchange", exc) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        logger.warning("sso: token exchange answered %s (error=%s)", response.status_code, str(error)[:64])
        raise SsoError("The sign-in provider did not accept this sign-in; start again.", code="sso_token", status=502)
    return body


def _id_token_claims(config: SsoConfig, metadata: ProviderMetadata, raw: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims, once its signature (RS256, a key of the provider's JWKS, fetched
    again once for an unknown key id), issuer, audience, expiry and nonce are checked."""
    checks = {"iss": metadata.issuer, "aud": config.client_id, "exp": None, "iat": None, "sub": None, "nonce": nonce}
    for refresh in (False, True):
        try:
            token = jwt.JWT(jwt=raw, key=_jwks(metadata.jwks_uri, refresh=refresh), algs=["RS256"], check_claims=checks)
            break
        except jwt.JWTMissingKey:
            if refresh:
                logger.warning("sso: the ID token is signed with a key the provider does not publish")
                raise SsoError("The sign-in could not be verified.", code="sso_invalid_token", status=502) from None
        except (JWException, ValueError, TypeError) as exc:
            logger.warning("sso: invalid ID token: %s", type(exc).__name__)
            raise SsoError("The sign-in could not be verified.", code="sso_invalid_token", status=502) from None
    claims = json.loads(token.claims)
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audience) > 1 and claims.get("azp") != config.client_id:
        raise SsoError("The sign-in could not be verified.", code="sso_invalid_token", status=502)
    return dict(claims)


def _userinfo(metadata: ProviderMetadata, access_token: Any, subject: str) -> dict[str, Any]:
    """The userinfo claims, when the provider has that endpoint and they are about this subject."""
    if not metadata.userinfo_endpoint or not isinstance(access_token, str):
        return {}
    try:
        info = _get_json(metadata.userinfo_endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
    except SsoError:
        return {}
    return info if info.get("sub") == subject else {}


def _groups(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return sorted({g[:255] for g in value if isinstance(g, str) and g})[:MAX_GROUPS]


def _verified(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def sso_flow_finish(
    *, config: SsoConfig, flow: Mapping[str, Any] | None, params: Mapping[str, str], redirect_uri: str
) -> UpstreamUser:
    """Check the provider's answer and say who signed in (``SsoError`` otherwise)."""
    code = _callback_code(config, flow, params)
    assert flow is not None  # checked by _callback_code
    metadata = provider_metadata(config)
    tokens = _exchange(config, metadata, code=code, verifier=str(flow["verifier"]), redirect_uri=redirect_uri)
    claims = _id_token_claims(config, metadata, tokens["id_token"], str(flow["nonce"]))
    wanted = ("email", "email_verified", "name", config.groups_claim)
    if any(name not in claims for name in wanted):
        info = _userinfo(metadata, tokens.get("access_token"), claims["sub"])
        claims = {**{k: v for k, v in info.items() if k in wanted}, **claims}
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise SsoError(
            "The provider did not share your email address, which is needed here; allow it and try again.",
            code="sso_no_email",
        )
    name = claims.get("name")
    if not isinstance(name, str):
        name = " ".join(str(claims.get(k)) for k in ("given_name", "family_name") if isinstance(claims.get(k), str))
    return UpstreamUser(
        issuer=metadata.issuer,
        subject=claims["sub"],
        email=email.strip().lower(),
        email_verified=_verified(claims.get("email_verified")),
        name=name.strip()[:150],
        groups=_groups(claims.get(config.groups_claim)),
    )


# --- accounts ------------------------------------------------------------------------------------
def _link_or_create(config: SsoConfig, upstream: UpstreamUser) -> User:
    identity = SsoIdentity.objects.select_related("user").filter(issuer=upstream.issuer, subject=upstream.subject)
    found = identity.first()
    if found is not None:
        found.groups, found.last_login_at = upstream.groups, timezone.now()
        found.save(update_fields=["groups", "last_login_at"])
        return found.user
    user = User.objects.filter(email=upstream.email).first()
    if user is not None:
        if not (upstream.email_verified or config.trusted):
            raise SsoError(
                f"An account with the address {upstream.email} already exists here, and the provider does not "
                "confirm that this address is yours. Log in with your password instead, or ask an operator.",
                code="sso_email_taken",
                status=403,
            )
        email_mark_verified(user)
    else:
        approved = config.trusted or upstream.email.rpartition("@")[2] in settings.ALLOWED_DOMAINS
        verified = config.trusted or upstream.email_verified
        user = User.objects.create_user(upstream.email, None, name=upstream.name, approved=approved, verified=verified)
        audit_record(
            action=AuditAction.SIGN_UP,
            actor=user,
            target=user,
            details={"via": "sso", "issuer": upstream.issuer, "approved": approved},
        )
        if not verified:
            enqueue_on_commit(mail_verification, str(user.pk))
    SsoIdentity.objects.create(issuer=upstream.issuer, subject=upstream.subject, user=user, groups=upstream.groups)
    return user


def sso_user_resolve(*, config: SsoConfig, upstream: UpstreamUser) -> User:
    """The local account of this upstream identity: linked earlier, linked now (same verified
    address), or created now (no usable password)."""
    for attempt in range(2):
        try:
            with transaction.atomic():
                user = _link_or_create(config, upstream)
            break
        except IntegrityError:  # a concurrent first login of the same identity or address won
            if attempt:
                raise SsoError("Signing in failed; try again.", code="sso_conflict", status=409) from None
    if not user.is_active:
        raise SsoError("This account is deactivated; ask an operator.", code="account_inactive", status=403)
    return user


def _target_roles(groups: list[str]) -> tuple[set[uuid.UUID], dict[uuid.UUID, Role]]:
    """The organizations under mapping, and the role the user should have in each (none: leave)."""
    mapped: set[uuid.UUID] = set()
    wanted: dict[uuid.UUID, Role] = {}
    member_of = set(groups)
    rows = SsoGroupMapping.objects.filter(organization__personal_for__isnull=True).values_list(
        "organization_id", "group", "role"
    )
    for org_id, group, role in rows:
        mapped.add(org_id)
        if group in member_of:
            current = wanted.get(org_id)
            if current is None or ROLE_PRECEDENCE.index(Role(role)) < ROLE_PRECEDENCE.index(current):
                wanted[org_id] = Role(role)
    return mapped, wanted


def _apply(org: Organization, user: User, membership: Membership | None, role: Role | None) -> str | None:
    """Bring one membership to ``role`` (None: no membership); the caller holds the org's lock.
    Returns the organization's name when its last owner was kept."""
    details: dict[str, Any] = {"email": user.email, "via": "sso"}
    if membership is None:
        if role is not None:
            membership_set(organization=org, user=user, role=role)
            audit_record(
                action=AuditAction.MEMBER_JOINED, org_id=org.id, target=user, details={**details, "role": role.value}
            )
        return None
    if membership.role == role:
        return None
    last_owner = (
        membership.role == Role.OWNER and Membership.objects.filter(organization=org, role=Role.OWNER).count() <= 1
    )
    if last_owner:
        logger.warning("sso: kept %s as the last owner of organization %s against its group mapping", user.pk, org.pk)
        return org.name
    if role is None:
        membership.delete()
        audit_record(
            action=AuditAction.MEMBER_REMOVED, org_id=org.id, target=user, details={**details, "role": membership.role}
        )
    else:
        membership_set(organization=org, user=user, role=role)
        audit_record(
            action=AuditAction.MEMBER_ROLE_CHANGED,
            org_id=org.id,
            target=user,
            details={**details, "from": membership.role, "to": role.value},
        )
    return None


def sso_memberships_apply(*, user: User, groups: list[str]) -> list[str]:
    """Re-apply the group mappings to the user's memberships (see the module's docstring).
    Returns the names of the organizations whose last owner was kept against the mapping."""
    mapped, wanted = _target_roles(groups)
    current = {m.organization_id: m.role for m in Membership.objects.filter(user=user, organization_id__in=mapped)}
    changing = sorted(org_id for org_id in mapped if current.get(org_id) != wanted.get(org_id))
    kept: list[str] = []
    if not changing:
        return kept
    with transaction.atomic():
        # Each organization's row is locked (in a fixed order) as its own membership services do.
        orgs = list(Organization.objects.select_for_update().filter(pk__in=changing).order_by("pk"))
        memberships = {m.organization_id: m for m in Membership.objects.filter(user=user, organization__in=orgs)}
        for org in orgs:
            name = _apply(org, user, memberships.get(org.pk), wanted.get(org.pk))
            if name is not None:
                kept.append(name)
    return kept


def sso_log_in(*, request: HttpRequest, config: SsoConfig, upstream: UpstreamUser) -> User:
    """Find or create the account, apply the group mappings, start the session."""
    user = sso_user_resolve(config=config, upstream=upstream)
    kept = sso_memberships_apply(user=user, groups=upstream.groups)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    details: dict[str, Any] = {"via": "sso", "issuer": upstream.issuer}
    if kept:
        details["kept_last_owner_of"] = kept
    audit_record(action=AuditAction.SIGN_IN, actor=user, target=user, details=details)
    return user
