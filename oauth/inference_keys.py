""" "Sign in with LLMaaS" keys: an app asks for the ``inference`` scope; on the consent page the user
picks an organization, models and a budget (an `InferenceKeyRequest` on the authorization code);
when the app exchanges that code at /o/token/ the key is issued and its secret handed to the app
in that one response (never stored). The user or an org admin revokes it like any key, or all of
an app's keys at once by revoking the app's grant (`app_keys_revoke`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from oauth2_provider.models import Application, Grant

from accounts.context import require_active_account
from accounts.models import Membership, Organization, User
from accounts.roles import Action, role_allows
from inference.selectors import public_model_names
from keys.models import ApiKey
from keys.services import IssuedKey, key_issue, key_revoke
from llmaas.errors import ApplicationError
from llmaas.limits import BudgetPeriod
from llmaas.scopes import INFERENCE
from oauth.models import InferenceKeyRequest

# A consent is a cap the user types in: anything above this is a typo, not a budget.
MAX_BUDGET_USD = Decimal("10000")
KEY_NAME_SUFFIX = " (Sign in with LLMaaS)"
KEY_NAME_MAX = 100  # ApiKey.name


@dataclass(frozen=True)
class OrgOption:
    organization: Organization
    role: str
    models: list[str]  # the catalog models this organization may use
    refusal: str | None  # why no key can be made here (None: it can)


@dataclass(frozen=True)
class KeyRequestChoice:
    """What the user chose on the consent page (already checked)."""

    organization: Organization
    models: list[str]
    budget_usd: Decimal


def asks_for_inference(scopes: list[str] | str) -> bool:
    return INFERENCE in (scopes.split() if isinstance(scopes, str) else scopes)


def organization_models(organization: Organization) -> list[str]:
    """The active catalog models the organization may use (its allow-list, or all of them)."""
    names = public_model_names(names=organization.allowed_models or None)
    return sorted(names)


def _account_refusal(user: User) -> str | None:
    try:
        require_active_account(user)
    except ApplicationError as exc:
        return exc.message
    return None


def key_request_options(*, user: User) -> list[OrgOption]:
    """Each organization of the user, with its models, and why no key can be made there if so."""
    account = _account_refusal(user)
    memberships = Membership.objects.filter(user=user).select_related("organization")
    options = []
    for membership in memberships.order_by("organization__personal_for", "organization__name"):
        org = membership.organization
        refusal = account
        if refusal is None and not role_allows(membership.role, Action.KEY_CREATE):
            refusal = f"Your role here ({membership.role}) does not allow creating keys."
        options.append(OrgOption(org, membership.role, organization_models(org) if refusal is None else [], refusal))
    return options


def key_request_check(
    *, user: User, organization_id: object, models: list[str], budget_usd: Decimal
) -> KeyRequestChoice:
    """The consent's choice, checked on the server: an organization where the user may create keys
    (an active account, a role with KEY_CREATE), at least one model it may use, a budget in
    (0, MAX_BUDGET_USD]. ApplicationError (with the field in ``details``) otherwise."""
    option = next((o for o in key_request_options(user=user) if str(o.organization.pk) == str(organization_id)), None)
    if option is None:
        raise ApplicationError("Choose one of your organizations.", details={"field": "organization"})
    if option.refusal is not None:
        raise ApplicationError(option.refusal, code="key_create_refused", details={"field": "organization"})
    wanted = list(dict.fromkeys(models))
    if not wanted:
        raise ApplicationError("Choose at least one model.", details={"field": "models"})
    refused = [m for m in wanted if m not in option.models]
    if refused:
        raise ApplicationError(
            f"{option.organization.name} may not use: {', '.join(refused)}.",
            code="model_not_allowed",
            details={"field": "models"},
        )
    if not Decimal(0) < budget_usd <= MAX_BUDGET_USD:
        raise ApplicationError(
            f"The budget must be more than $0 and at most ${MAX_BUDGET_USD}.", details={"field": "budget_usd"}
        )
    return KeyRequestChoice(option.organization, wanted, budget_usd)


def key_request_save(*, grant: Grant, user: User, choice: KeyRequestChoice) -> InferenceKeyRequest:
    return InferenceKeyRequest.objects.create(
        grant=grant,
        user=user,
        organization=choice.organization,
        allowed_models=choice.models,
        budget_usd=choice.budget_usd,
    )


def _key_name(application: Application) -> str:
    return application.name[: KEY_NAME_MAX - len(KEY_NAME_SUFFIX)] + KEY_NAME_SUFFIX


class CodeAlreadyUsed(Exception):
    """The authorization code was exchanged by a concurrent request."""


def key_request_fulfil(*, code: str, application: Application) -> IssuedKey | None:
    """At the code's exchange (inside the token's transaction): consume the code and, if the user
    asked for a key, issue it: with the models and the lifetime budget they chose, created by
    them, tied to the app. The code's row is locked and deleted here, so a concurrent exchange of
    the same code waits, then fails (CodeAlreadyUsed): a key is issued once. The choice is
    checked again (the user's role or the catalog may have changed since the consent)."""
    with transaction.atomic():
        grant = Grant.objects.select_for_update().filter(code=code, application=application).first()
        if grant is None:
            raise CodeAlreadyUsed
        request = InferenceKeyRequest.objects.filter(grant=grant).select_related("user", "organization").first()
        grant.delete()  # and the key request with it
        if request is None:
            return None
        choice = key_request_check(
            user=request.user,
            organization_id=request.organization_id,
            models=request.allowed_models,
            budget_usd=request.budget_usd or Decimal(0),
        )
        issued = key_issue(
            organization=choice.organization,
            created_by=request.user,
            name=_key_name(application),
            models=choice.models,
            limits={"budget_usd": choice.budget_usd, "budget_period": BudgetPeriod.LIFETIME},
            oauth_application=application,
        )
    return issued


def app_keys_revoke(*, user: User, application: Application, actor: User | None) -> int:
    """Revoke the live keys issued to ``application`` at ``user``'s consent (when the user revokes
    the app's grant). Each is revoked like any key: audited, and refused by the proxy once the
    commit is published. Returns how many were live."""
    with transaction.atomic():
        live = ApiKey.objects.filter(oauth_application=application, created_by=user, revoked_at__isnull=True)
        keys = list(live.select_for_update())
        for key in keys:
            key_revoke(key=key, by=actor)
    return len(keys)
