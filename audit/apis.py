"""GET /api/audit/: the current organization's audit trail, newest first, cursor-paginated."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context
from accounts.roles import Action
from audit.models import AuditAction, AuditEvent
from audit.selectors import audit_events
from llmaas.errors import ApplicationError
from llmaas.openapi import CURSOR_PARAMETERS, cursor_page, error_responses
from llmaas.pagination import paginated
from llmaas.scopes import ORG_ADMIN


class AuditEventOutputSerializer(serializers.ModelSerializer[AuditEvent]):
    action = serializers.ChoiceField(choices=AuditAction.choices)
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "actor", "target", "details", "ip", "user_agent"]

    def get_actor(self, event: AuditEvent) -> dict[str, str | None] | None:
        if event.actor_id is None and not event.actor_email:
            return None
        return {"id": str(event.actor_id) if event.actor_id else None, "email": event.actor_email}

    def get_target(self, event: AuditEvent) -> dict[str, str] | None:
        return {"type": event.target_type, "id": event.target_id} if event.target_type else None


class AuditListApi(APIView):
    required_scopes = {"GET": ORG_ADMIN}

    class FilterSerializer(serializers.Serializer[dict[str, object]]):
        action = serializers.ListField(child=serializers.ChoiceField(choices=AuditAction.choices), required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(
        tags=["audit"],
        summary="The organization's audit trail",
        description=(
            "Who did what, when, from where (owners and admins), newest first. Filter by `action` "
            "(repeatable) and a time range `[since, until)`."
        ),
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, many=True, enum=AuditAction.values, explode=True),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Entries at or after this time."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Entries before this time."),
            *CURSOR_PARAMETERS,
        ],
        responses={
            200: cursor_page(AuditEventOutputSerializer, "AuditEventPage"),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.AUDIT_VIEW)  # a refusal comes before any word on the filters
        params: dict[str, object] = {
            k: request.query_params[k] for k in ("since", "until") if k in request.query_params
        }
        if "action" in request.query_params:
            params["action"] = request.query_params.getlist("action")
        serializer = self.FilterSerializer(data=params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ApplicationError("`since` must be before `until`.", code="invalid_time_range")
        events = audit_events(ctx=ctx, actions=data.get("action"), since=data.get("since"), until=data.get("until"))
        return paginated(self, request, events, AuditEventOutputSerializer)
