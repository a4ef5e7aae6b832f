"""REST API for keys: /api/keys/ (list, create) and /api/keys/{id}/ (detail, revoke)."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context
from accounts.models import Organization
from accounts.roles import Action
from keys.models import ApiKey
from keys.selectors import key_effective, key_get, keys_visible
from keys.services import LIMIT_FIELDS, key_issue, key_revoke, key_rotate, key_update, organization_limits_set
from llmaas.errors import ApplicationError, NotFound
from llmaas.limits import BudgetPeriod


class KeyOutputSerializer(serializers.ModelSerializer[ApiKey]):
    models = serializers.ListField(source="allowed_models", child=serializers.CharField())
    created_by = serializers.EmailField(source="created_by.email", default=None)
    revoked = serializers.BooleanField(source="is_revoked")

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
        ]


class KeyPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100


def _parse_id(key_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(key_id)
    except ValueError:
        raise NotFound("No such API key.", code="key_not_found") from None


class LimitsSerializer(serializers.Serializer[dict[str, object]]):
    """Limits of a scope; null (or absent) means unlimited."""

    budget_usd = serializers.DecimalField(
        max_digits=14, decimal_places=6, min_value=Decimal(0), required=False, allow_null=True
    )
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    rpm = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    tpm = serializers.IntegerField(min_value=1, max_value=10_000_000_000, required=False, allow_null=True)
    max_parallel = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)
    models = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200)


class KeyCollectionApi(APIView):
    class InputSerializer(LimitsSerializer):
        name = serializers.CharField(max_length=100, trim_whitespace=True)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        store_chats = serializers.BooleanField(required=False, default=False)

    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        paginator = KeyPagination()
        page = paginator.paginate_queryset(keys_visible(ctx=ctx), request, view=self)
        return paginator.get_paginated_response(KeyOutputSerializer(page, many=True).data)

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
    def get(self, request: Request, key_id: str) -> Response:
        key = key_get(ctx=org_context(request), key_id=_parse_id(key_id))
        return Response(KeyOutputSerializer(key).data)

    class UpdateSerializer(LimitsSerializer):
        name = serializers.CharField(max_length=100, trim_whitespace=True, required=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)
        store_chats = serializers.BooleanField(required=False)

    def patch(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = key_update(key=key, changes=dict(serializer.validated_data))
        return Response(KeyOutputSerializer(key).data)

    def delete(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        key_revoke(key=key, by=ctx.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyRotateApi(APIView):
    class InputSerializer(serializers.Serializer[dict[str, object]]):
        rotation_id = serializers.CharField(max_length=100, help_text="Your id for this rotation (idempotency).")
        grace_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=3600)

    def post(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rotation = key_rotate(
            key=key, rotation_id=str(data["rotation_id"]), grace=timedelta(seconds=int(data["grace_seconds"]))
        )
        body = dict(KeyOutputSerializer(rotation.key).data)
        body["secret"] = rotation.secret
        body["replayed"] = rotation.replayed
        body["previous_secret_expires_at"] = rotation.key.previous_secret_expires_at
        return Response(body, status=status.HTTP_200_OK if rotation.replayed else status.HTTP_201_CREATED)


class KeyEffectiveApi(APIView):
    def get(self, request: Request, key_id: str) -> Response:
        key = key_get(ctx=org_context(request), key_id=_parse_id(key_id))
        return Response(key_effective(key=key))


class OrganizationLimitsApi(APIView):
    """GET/PATCH /api/organization/limits: the current organization's limits."""

    class InputSerializer(LimitsSerializer):
        timezone = serializers.CharField(max_length=64, required=False)

    def _body(self, org: Organization) -> dict[str, object]:
        return {"id": str(org.id), **org.limits_dict(), "models": org.allowed_models, "timezone": org.timezone}

    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.LIMITS_VIEW)
        return Response(self._body(ctx.organization))

    def patch(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.LIMITS_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            org = organization_limits_set(organization=ctx.organization, changes=dict(serializer.validated_data))
        except DjangoValidationError as exc:
            raise ApplicationError("Invalid limits.", code="invalid_request", details=exc.message_dict) from None
        return Response(self._body(org))
