"""LLMaaS's OAuth2 validator: DOT's, plus our claims (name, email, groups) in ID tokens and
userinfo."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from accounts.models import Membership


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
