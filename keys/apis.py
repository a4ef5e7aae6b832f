"""REST API for keys: /api/keys/ (list, create) and /api/keys/{id}/ (detail, revoke)."""

import uuid

from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context
from accounts.roles import Action
from keys.models import ApiKey
from keys.selectors import key_get, keys_visible
from keys.services import key_issue, key_revoke
from llmaas.errors import NotFound


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
            "last_used_at",
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


class KeyCollectionApi(APIView):
    class InputSerializer(serializers.Serializer[dict[str, object]]):
        name = serializers.CharField(max_length=100, trim_whitespace=True)
        models = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list, max_length=200
        )
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
        issued = key_issue(
            organization=ctx.organization,
            created_by=ctx.user,
            name=data["name"],
            models=data["models"],
            expires_at=data["expires_at"],
            store_chats=data["store_chats"],
        )
        body = dict(KeyOutputSerializer(issued.key).data)
        body["secret"] = issued.secret
        return Response(body, status=status.HTTP_201_CREATED)


class KeyItemApi(APIView):
    def get(self, request: Request, key_id: str) -> Response:
        key = key_get(ctx=org_context(request), key_id=_parse_id(key_id))
        return Response(KeyOutputSerializer(key).data)

    def delete(self, request: Request, key_id: str) -> Response:
        ctx = org_context(request)
        key = key_get(ctx=ctx, key_id=_parse_id(key_id), manage=True)
        key_revoke(key=key, by=ctx.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
