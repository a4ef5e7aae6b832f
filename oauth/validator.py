"""LLMaaS's OAuth2 validator: DOT's, plus our claims (name, email, groups) in ID tokens and
userinfo, and "Sign in with LLMaaS" keys (oauth/inference_keys.py): the consent's choice is stored
with the authorization code, and the key is issued when that code is exchanged."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from oauth2_provider.models import Grant
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from accounts.models import Membership
from llmaas.errors import ApplicationError
from oauth import inference_keys

# The consent's checked choice (inference_keys.KeyRequestChoice), passed by AuthorizeView as an
# authorization credential: oauthlib copies each credential onto its request as an attribute.
KEY_REQUEST_CREDENTIAL = "llmaas_key_request"


class _InvalidGrant(errors.InvalidGrantError):
    """invalid_grant raised from a validator hook: oauthlib gives such errors no headers, so DOT
    would answer its JSON as text/html; these are the token endpoint's own."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}


def user_groups(user: Any) -> list[str]:
    """The ``groups`` claim: ``<organization name>:<role>`` for each shared organization the user
    belongs to (another LLMaaS, or any relying party, can map them to its own organizations)."""
    memberships = Membership.objects.filter(user=user, organization__personal_for__isnull=True).select_related(
        "organization"
    )
    return sorted(f"{m.organization.name}:{m.role}" for m in memberships)


class LLMaaSValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "profile"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "name": user.name or user.email,
            "email": user.email,
            "email_verified": bool(user.email_verified),
            "groups": user_groups(user),
        }

    def _create_authorization_code(self, request: Any, code: dict[str, str], expires: Any = None) -> Grant:
        """The code, and with it what the user chose for the app's key when it asked for ``inference``."""
        choice = getattr(request, KEY_REQUEST_CREDENTIAL, None)
        if not inference_keys.asks_for_inference(request.scopes):
            return super()._create_authorization_code(request, code, expires)
        if choice is None:  # AuthorizeView always asks; never a key without the user's choice
            raise errors.ConsentRequired(request=request)
        with transaction.atomic():
            grant = super()._create_authorization_code(request, code, expires)
            inference_keys.key_request_save(grant=grant, user=request.user, choice=choice)
        return grant

    def _save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any) -> None:
        """Inside DOT's transaction: on an authorization-code exchange that asked for ``inference``,
        issue the key and add its secret to the token response (this once). Never on a refresh.
        If the key cannot be issued, the whole token request fails."""
        super()._save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type != "authorization_code" or not inference_keys.asks_for_inference(request.scopes):
            return
        try:
            issued = inference_keys.key_request_fulfil(code=request.code, application=request.client)
        except inference_keys.CodeAlreadyUsed:
            raise _InvalidGrant(request=request) from None
        except ApplicationError as exc:
            raise _InvalidGrant(description=f"No key could be issued: {exc.message}", request=request) from None
        request.llmaas_code_consumed = True
        if issued is not None:
            token["llmaas_api_key"] = issued.secret
            token["llmaas_api_key_id"] = str(issued.key.pk)

    def invalidate_authorization_code(self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(request, "llmaas_code_consumed", False):
            return  # key_request_fulfil deleted it, in the token's transaction
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
