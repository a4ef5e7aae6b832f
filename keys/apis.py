"""REST API for keys: /api/keys/ (list, create), /api/keys/{id}/ (detail, revoke) and
/api/keys/playground (the portal playground's short-lived key)."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context
from accounts.models import Organization
from accounts.roles import Action
from keys.models import ApiKey
from keys.selectors import key_effective, key_get, keys_visible
from keys.services import (
    LIMIT_FIELDS,
    key_issue,
    key_revoke,
    key_rotate,
    key_update,
    organization_limits_set,
    playground_key_issue,
)
from llmaas.errors import ApplicationError, NotFound
from llmaas.limits import BudgetPeriod
from llmaas.openapi import CURSOR_PARAMETERS, cursor_page, error_responses
from llmaas.pagination import NewestFirstPagination
from llmaas.scopes import KEYS_READ, KEYS_WRITE, ORG_ADMIN


class KeyAppSerializer(serializers.Serializer[object]):
    client_id = serializers.CharField()
    name = serializers.CharField()


class KeyOutputSerializer(serializers.ModelSerializer[ApiKey]):
    models = serializers.ListField(source="allowed_models", child=serializers.CharField())
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)
    revoked = serializers.BooleanField(source="is_revoked")
    app = KeyAppSerializer(
        source="oauth_application",
        allow_null=True,
        read_only=True,
        help_text='The OAuth app this key was issued to ("Sign in with LLMaaS"); null for other keys.',
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "models",
            "created_by",
            "created_at",
            "expires_at",
            "store_chats",
            "budget_usd",
            "budget_period",
            "rpm",
            "tpm",
            "max_parallel",
            "last_used_at",
            "rotated_at",
            "revoked",
            "revoked_at",
            "app",
            "playground",
        ]


class KeyCreatedOutputSerializer(KeyOutputSerializer):
    secret = serializers.CharField(help_text="The key's secret: shown in this response only, never stored.")

    class Meta(KeyOutputSerializer.Meta):
        fields = [*KeyOutputSerializer.Meta.fields, "secret"]


class KeyRotatedOutputSerializer(KeyOutputSerializer):
    secret = serializers.CharField(
        allow_null=True, help_text="The new secret, shown once; null when the call repeats a rotation_id."
    )
    replayed = serializers.BooleanField(help_text="True: this rotation_id was used before; nothing changed.")
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until when the previous secret still works."
    )

    class Meta(KeyOutputSerializer.Meta):
        fields = [*KeyOutputSerializer.Meta.fields, "secret", "replayed", "previous_secret_expires_at"]


class _SetBy(serializers.Serializer[object]):
    set_by = serializers.ChoiceField(
        choices=["key", "organization", "both"], allow_null=True, help_text="Which scope sets it (null: nobody)."
    )


class _EffectiveModels(_SetBy):
    value = serializers.ListField(child=serializers.CharField(), allow_null=True, help_text="Null: every model.")


class _EffectiveNumber(_SetBy):
    value = serializers.IntegerField(allow_null=True, help_text="The tightest limit; null: unlimited.")


class _EffectiveBudget(serializers.Serializer[object]):
    scope = serializers.ChoiceField(choices=["key", "org"])
    limit_usd = serializers.CharField()
    period = serializers.ChoiceField(choices=BudgetPeriod.choices)
    spent_usd = serializers.CharField()
    reserved_usd = serializers.CharField()
    remaining_usd = serializers.CharField()
    resets_at = serializers.DateTimeField(allow_null=True, help_text="Null: a lifetime budget.")


class KeyEffectiveOutputSerializer(serializers.Serializer[object]):
    models = _EffectiveModels()
    budgets = _EffectiveBudget(many=True)
    budget_binding_scope = serializers.ChoiceField(choices=["key", "org"], allow_null=True)
    rpm = _EffectiveNumber()
    tpm = _EffectiveNumber()
    max_parallel = _EffectiveNumber()
    expires_at = serializers.DateTimeField(allow_null=True)
    timezone = serializers.CharField()


class LimitsOutputSerializer(serializers.Serializer[object]):
    id = serializers.UUIDField()
    budget_usd = serializers.CharField(allow_null=True, help_text="USD per period; null: no budget.")
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices)
    rpm = serializers.IntegerField(allow_null=True)
    tpm = serializers.IntegerField(allow_null=True)
    max_parallel = serializers.IntegerField(allow_null=True)
    models = serializers.ListField(child=serializers.CharField(), help_text="Empty: every model.")
    timezone = serializers.CharField()


KeyPagination = NewestFirstPagination
KEY_ERRORS = (400, 401, 403, 404)
TAG = ["keys"]


def _parse_id(key_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(key_id)
    except ValueError:
        raise NotFound("No such API key.", code="key_not_found") from None


MAX_LIMIT = 2**31 - 1  # the limits' column type (integer)


class LimitsSerializer(serializers.Serializer[dict[str, object]]):
    """Limits of a scope; null (or absent) means unlimited."""

    budget_usd = serializers.DecimalField(
        max_digits=14, decimal_places=6, min_value=Decimal(0), required=False, allow_null=True
    )
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    rpm = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    # PostgreSQL's integer: anything larger is a 400 naming the field, never a 500 from the database.
    tpm = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, allow_null=True)
    max_parallel = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)
    models = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200)


class KeyCollectionApi(APIView):
    required_scopes = {"GET": KEYS_READ, "POST": KEYS_WRITE}

    class InputSerializer(LimitsSerializer):
        name = serializers.CharField(max_length=100, trim_whitespace=True)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        store_chats = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        tags=TAG,
        summary="The organization's keys",
        description="Owners and admins see every key; members the keys they created; viewers and billing none (403).",
        parameters=CURSOR_PARAMETERS,
        responses={200: cursor_page(KeyOutputSerializer, "KeyPage"), **error_responses(*KEY_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        paginator = KeyPagination()
        page = paginator.paginate_queryset(keys_visible(ctx=ctx), request, view=self)
        return paginator.get_paginated_response(KeyOutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        summary="Issue a key",
        description=(
            "The secret is in this response only; only its SHA-256 is stored. Owners, admins and "
            "members; the account must be approved and its email verified (403 otherwise)."
        ),
        request=InputSerializer,
        responses={201: KeyCreatedOutputSerializer, **error_responses(*KEY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.KEY_CREATE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        limits = {name: data[name] for name in LIMIT_FIELDS if name in data}
        issued = key_issue(
            organization=ctx.organization,
            created_by=ctx.user,
            name=data["name"],
            models=data.get("models", []),
            expires_at=data["expires_at"],
            store_chats=data["store_chats"],
            limits=limits,
        )
        body = dict(KeyOutputSerializer(issued.key).data)
        body["secret"] = issued.secret
        return Response(body, status=status.HTTP_201_CREATED)


class KeyItemApi(APIView):
    required_scopes = {"GET": KEYS_READ, "PATCH": KEYS_WRITE, "DELETE": KEYS_WRITE}

    @extend_schema(tags=TAG, summary="A key", responses={200: KeyOutputSerializer, **error_responses(*KEY_ERRORS)})
    def get(self, request: Request, key_id: str) -> Response:
        key = key_get(ctx=org_context(request), key_id=_parse_id(key_id))
        return Response(KeyOutputSerializer(key).data)

    class UpdateSerializer(LimitsSerializer):
        name = serializers.CharField(max_length=100, trim_whitespace=True, required=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)
        store_chats = serializers.BooleanField(required=False)

    @extend_schema(
        tags=TAG,
        summary="Change a key",
        description="Name, models, limits, expiry, chat opt-in; the proxy sees the change at once.",
        request=UpdateSerializer,
        responses={200: KeyOutputSerializer, **error_responses(*KEY_ERRORS, 409)},
    )
    def patch(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = key_update(key=key, changes=dict(serializer.validated_data), by=ctx.user)
        return Response(KeyOutputSerializer(key).data)

    @extend_schema(
        tags=TAG,
        summary="Revoke a key",
        description="Idempotent; every proxy worker refuses the key within about a second. It stays listed.",
        responses={204: None, **error_responses(*KEY_ERRORS)},
    )
    def delete(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        key_revoke(key=key, by=ctx.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyRotateApi(APIView):
    required_scopes = {"POST": KEYS_WRITE}

    class InputSerializer(serializers.Serializer[dict[str, object]]):
        rotation_id = serializers.CharField(max_length=100, help_text="Your id for this rotation (idempotency).")
        grace_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=3600)

    @extend_schema(
        tags=TAG,
        summary="Rotate a key's secret",
        description=(
            "A new secret, same id and prefix; the old one works until the grace ends. Repeating a "
            "`rotation_id` changes nothing (200, `replayed: true`, no secret)."
        ),
        request=InputSerializer,
        responses={
            201: KeyRotatedOutputSerializer,
            200: KeyRotatedOutputSerializer,
            **error_responses(*KEY_ERRORS, 409),
        },
    )
    def post(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rotation = key_rotate(
            key=key,
            rotation_id=str(data["rotation_id"]),
            grace=timedelta(seconds=int(data["grace_seconds"])),
            by=ctx.user,
        )
        body = dict(KeyOutputSerializer(rotation.key).data)
        body["secret"] = rotation.secret
        body["replayed"] = rotation.replayed
        body["previous_secret_expires_at"] = rotation.key.previous_secret_expires_at
        return Response(body, status=status.HTTP_200_OK if rotation.replayed else status.HTTP_201_CREATED)


class KeyEffectiveApi(APIView):
    required_scopes = {"GET": KEYS_READ}

    @extend_schema(
        tags=TAG,
        summary="What applies to a key",
        description=(
            "Models and limits that apply (key ∩ organization), which scope sets each, budgets and resets. "
            "503 with `Retry-After` while Redis (which holds the budgets' spend) is unreachable."
        ),
        responses={200: KeyEffectiveOutputSerializer, **error_responses(*KEY_ERRORS, 503)},
    )
    def get(self, request: Request, key_id: str) -> Response:
        key = key_get(ctx=org_context(request), key_id=_parse_id(key_id))
        return Response(key_effective(key=key))


class OrganizationLimitsApi(APIView):
    """GET/PATCH /api/organization/limits: the current organization's limits."""

    required_scopes = {"GET": KEYS_READ, "PATCH": ORG_ADMIN}

    class InputSerializer(LimitsSerializer):
        timezone = serializers.CharField(max_length=64, required=False)

    def _body(self, org: Organization) -> dict[str, object]:
        return {"id": str(org.id), **org.limits_dict(), "models": org.allowed_models, "timezone": org.timezone}

    @extend_schema(
        tags=["organizations"],
        summary="The organization's limits",
        responses={200: LimitsOutputSerializer, **error_responses(*KEY_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.LIMITS_VIEW)
        return Response(self._body(ctx.organization))

    @extend_schema(
        tags=["organizations"],
        summary="Change the organization's limits",
        description="Owners and admins; every key of the organization is republished at once.",
        request=InputSerializer,
        responses={200: LimitsOutputSerializer, **error_responses(*KEY_ERRORS)},
    )
    def patch(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.LIMITS_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            org = organization_limits_set(
                organization=ctx.organization, changes=dict(serializer.validated_data), by=ctx.user
            )
        except DjangoValidationError as exc:
            raise ApplicationError("Invalid limits.", code="invalid_request", details=exc.message_dict) from None
        return Response(self._body(org))


def _price() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=6, help_text="USD per million tokens.")


class PlaygroundModelSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    input_price_per_mtok = _price()
    output_price_per_mtok = _price()


class PlaygroundKeyOutputSerializer(serializers.Serializer[object]):
    id = serializers.UUIDField(source="issued.key.id")
    prefix = serializers.CharField(source="issued.key.prefix")
    secret = serializers.CharField(source="issued.secret", help_text="Shown in this response only, never stored.")
    expires_at = serializers.DateTimeField(source="issued.key.expires_at")
    budget_usd = serializers.DecimalField(
        source="issued.key.budget_usd", max_digits=14, decimal_places=6, help_text="Lifetime budget of this key."
    )
    store_chats = serializers.BooleanField(source="issued.key.store_chats")
    models = PlaygroundModelSerializer(many=True, help_text="The models it may call, with their prices.")


class PlaygroundKeyApi(APIView):
    """POST /api/keys/playground: a short-lived key for the portal's playground."""

    required_scopes = {"POST": KEYS_WRITE}

    @extend_schema(
        tags=TAG,
        summary="A playground key",
        description=(
            "A key for the portal's playground: works for `LLMAAS_PLAYGROUND_KEY_SECONDS` (default 15 "
            "minutes) with a lifetime budget of `LLMAAS_PLAYGROUND_BUDGET_USD` (default $0.50; the "
            "organization's limits and budget still apply), stores its chats (history), and is listed "
            "with `playground: true`. Issuing one revokes the caller's earlier playground keys in this "
            "organization. The secret is in this response only, with the models and their prices. "
            "Owners, admins and members with an active account."
        ),
        request=None,
        responses={201: PlaygroundKeyOutputSerializer, **error_responses(*KEY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.KEY_CREATE)
        issued = playground_key_issue(organization=ctx.organization, user=ctx.user)
        return Response(PlaygroundKeyOutputSerializer(issued).data, status=status.HTTP_201_CREATED)
