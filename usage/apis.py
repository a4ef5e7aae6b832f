"""REST API of the usage app: summaries, request logs, chats, notifications, retention, exports.

Everything is scoped to the current organization (the ``LLMaaS-Organization`` header): owners,
admins, viewers and billing read the whole organization's usage; members read the usage of the
keys they created. Chats: owners and admins all, members their keys'. Lists are cursor-paginated;
exports stream (CSV, JSON or NDJSON) whatever their size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import OrgContext, org_context
from accounts.roles import Action
from llmaas.errors import ApplicationError
from llmaas.openapi import cursor_page, cursor_parameters, error_responses
from llmaas.pagination import NewestFirstPagination, paginated
from llmaas.scopes import CHATS_READ, ORG_ADMIN, USAGE_READ
from usage.exports import FORMATS, flag, iso, stream, text
from usage.filters import (
    ChatQuerySerializer,
    ExportFormatSerializer,
    LogQuerySerializer,
    SummaryQuerySerializer,
)
from usage.models import ChatHistory, Notification, RequestLog
from usage.selectors import LogFilter, notification_get, notifications_list, visible_keys
from usage.services import chats_delete, notification_mark_read, retention_get, retention_set
from usage.summary import (
    UsageQuery,
    UsageRow,
    gpu_cost_totals,
    sum_rows,
    summary_statement,
    usage_rows,
    usage_totals,
)


def _query(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class UsagePagination(NewestFirstPagination):
    page_size = 100
    max_page_size = 1000


def list_schema(summary: str, description: str, query: Any, item: Any, page: str) -> Any:
    """The schema of a cursor-paginated list: its filters, the page, the errors."""
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[query, *LIST_PARAMETERS],
        responses={200: cursor_page(item, page), **error_responses(400, 401, 403, 404)},
    )


LIST_PARAMETERS = cursor_parameters(UsagePagination)


# --- request logs ----------------------------------------------------------------------------
class LogOutputSerializer(serializers.ModelSerializer[RequestLog]):
    total_tokens = serializers.SerializerMethodField()
    cost_usd = serializers.DecimalField(source="cost", max_digits=20, decimal_places=10)

    class Meta:
        model = RequestLog
        fields = [
            "call_id",
            "created_at",
            "key_id",
            "user_id",
            "model",
            "status",
            "error_type",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cost_usd",
            "latency_ms",
            "ttft_ms",
            "stream",
            "end_user",
            "tokens_estimated",
        ]

    def get_total_tokens(self, log: RequestLog) -> int:
        return log.prompt_tokens + log.completion_tokens


def _log_filter(ctx: OrgContext, data: dict[str, Any]) -> LogFilter:
    keys = visible_keys(ctx, key=data.get("key"), own=Action.USAGE_VIEW_OWN, every=Action.USAGE_VIEW_ALL)
    return LogFilter(
        ctx.organization.id,
        keys,
        data.get("model") or None,
        data.get("status") or None,
        data.get("start"),
        data.get("end"),
    )


class UsageLogsApi(APIView):
    required_scopes = {"GET": USAGE_READ}

    @list_schema(
        "List request logs",
        "One row per call through the proxy, newest first.",
        LogQuerySerializer,
        LogOutputSerializer,
        "RequestLogPage",
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        logs = _log_filter(ctx, _query(LogQuerySerializer, request)).queryset(RequestLog)
        return paginated(self, request, logs, LogOutputSerializer, UsagePagination)


# --- exports ---------------------------------------------------------------------------------
class _JsonErrors(BaseContentNegotiation):
    """Exports take ``?format=`` as theirs (csv/json/ndjson); errors are always JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return JSONRenderer(), JSONRenderer.media_type


class ExportApi(APIView):
    """A streamed download of the rows ``select`` picks (CSV, JSON or NDJSON: ``?format=``)."""

    content_negotiation_class = _JsonErrors
    kind: str
    query_serializer: type[serializers.Serializer[Any]]

    def select(self, ctx: OrgContext, data: dict[str, Any], csv: bool, params: dict[str, Any]) -> str:
        raise NotImplementedError

    def get(self, request: Request) -> StreamingHttpResponse:
        ctx = org_context(request)
        fmt = _query(ExportFormatSerializer, request)["format"]
        params: dict[str, Any] = {}
        select = self.select(ctx, _query(self.query_serializer, request), fmt == "csv", params)
        content_type, extension = FORMATS[fmt]
        response = StreamingHttpResponse(stream(select, params, fmt), content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="{self.kind}-{ctx.organization.id}-{stamp}.{extension}"'
        )
        response["X-Accel-Buffering"] = "no"  # nginx relays the stream as it comes
        response["Cache-Control"] = "no-store"
        return response


def export_schema(summary: str, description: str, query: type[serializers.Serializer[Any]]) -> Any:
    return extend_schema_view(
        get=extend_schema(
            summary=summary,
            description=description,
            parameters=[query, ExportFormatSerializer],
            responses=_EXPORT_RESPONSES,
        )
    )


_EXPORT_RESPONSES: dict[Any, Any] = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row."),
    (200, "application/json"): OpenApiResponse(OpenApiTypes.ANY, description="A JSON array of rows."),
    (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One JSON object per line."),
    **error_responses(400, 401, 403, 404),
}


def _log_columns(csv: bool) -> str:
    return (
        f"{iso('created_at')} AS created_at, {text('call_id', csv)} AS call_id, key_id, user_id, "
        f"{text('model', csv)} AS model, status, {text('error_type', csv)} AS error_type, prompt_tokens, "
        f"completion_tokens, prompt_tokens + completion_tokens AS total_tokens, cost::text AS cost_usd, latency_ms, "
        f"ttft_ms, {flag('stream', csv)} AS stream, {text('end_user', csv)} AS end_user, "
        f"{flag('tokens_estimated', csv)} AS tokens_estimated"
    )


@export_schema(
    "Export request logs", "The rows of `GET /api/usage/logs` with the same filters, oldest first.", LogQuerySerializer
)
class UsageLogsExportApi(ExportApi):
    required_scopes = {"GET": USAGE_READ}
    kind, query_serializer = "request-logs", LogQuerySerializer

    def select(self, ctx: OrgContext, data: dict[str, Any], csv: bool, params: dict[str, Any]) -> str:
        where = _log_filter(ctx, data).where(params)
        return f"SELECT {_log_columns(csv)} FROM request_logs WHERE {where} ORDER BY created_at, id"


# --- summary ---------------------------------------------------------------------------------
def _encode_cursor(row: UsageRow) -> str:
    raw = json.dumps([row.bucket.isoformat() if row.bucket else None, row.group]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime | None, str | None]:
    try:
        bucket, group = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(bucket) if bucket else None), (str(group) if group is not None else None)
    except (ValueError, TypeError, binascii.Error):
        raise ApplicationError("The cursor is not valid.", code="invalid_cursor") from None


def _usage_query(ctx: OrgContext, data: dict[str, Any]) -> UsageQuery:
    keys = visible_keys(ctx, key=data.get("key"), own=Action.USAGE_VIEW_OWN, every=Action.USAGE_VIEW_ALL)
    return UsageQuery(
        ctx.organization.id,
        data["start"],
        data["end"],
        data["granularity"],
        data.get("group_by"),
        key_ids=keys,
        models=data.get("model") or None,
        end_users=data.get("end_user") or None,
    )


def _row_body(row: UsageRow) -> dict[str, Any]:
    bucket, group, requests, errors, prompt, completion, cost = row
    return {
        "bucket": bucket.isoformat().replace("+00:00", "Z") if bucket else None,
        "group": group,
        "requests": requests,
        "errors": errors,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": format(cost, "f"),  # fixed-point like PostgreSQL's numeric::text (str() gives "0E-10")
    }


_COUNTS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "requests": serializers.IntegerField(),
    "errors": serializers.IntegerField(help_text="Calls whose status is not success."),
    "prompt_tokens": serializers.IntegerField(),
    "completion_tokens": serializers.IntegerField(),
    "total_tokens": serializers.IntegerField(),
    "cost_usd": serializers.CharField(help_text="USD, a decimal string."),
}
# With ?internal_cost=true (usage/gpu_cost.py): what the calls cost the fleet beside their list price.
GPU_COST: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "gpu_seconds": serializers.CharField(
        required=False, help_text="Backend busy time charged to the calls, times the backends' GPUs; a decimal string."
    ),
    "internal_cost_usd": serializers.CharField(
        required=False, help_text="That time at the backends' hourly cost, USD, a decimal string."
    ),
    "gpu_cost_pending": serializers.IntegerField(
        required=False, help_text="Calls whose GPU cost is not allocated yet (their window is not closed)."
    ),
}
SUMMARY_ROW: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "bucket": serializers.DateTimeField(allow_null=True, help_text="Start of the UTC bucket; null for total."),
    "group": serializers.CharField(allow_null=True, help_text="The group_by value (a key id, model, end user)."),
    **_COUNTS,
}


class SummaryRenderer(JSONRenderer):
    """JSON by orjson: a summary per end user is thousands of rows, and the standard library's
    encoder took about a seventh of the request (bench usage). The same document as JSONRenderer's
    (compact, UTF-8, UTC times with "Z"); anything orjson does not know goes through JSONRenderer."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        try:
            return orjson.dumps(data, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)


class UsageSummaryApi(APIView):
    required_scopes = {"GET": USAGE_READ}
    renderer_classes = [SummaryRenderer]

    class PageSerializer(serializers.Serializer[dict[str, Any]]):
        limit = serializers.IntegerField(min_value=1, max_value=10_000, default=1000)
        cursor = serializers.CharField(required=False, max_length=2000)

    class CostSerializer(serializers.Serializer[dict[str, Any]]):
        internal_cost = serializers.BooleanField(
            default=False,
            help_text="Also total the GPU-seconds and internal cost (the backends' hourly cost) beside the list "
            "price: read from the calls themselves, so slower over long ranges.",
        )

    @extend_schema(
        summary="Usage summary",
        description=(
            "Requests, errors, tokens and cost per UTC hour, day or month (or in total), optionally per model, key "
            "or end user, over [start, end). Read from the rollups plus the calls not rolled up yet: always exact."
        ),
        parameters=[SummaryQuerySerializer, PageSerializer, CostSerializer],
        responses={
            200: inline_serializer(
                "UsageSummary",
                {
                    "start": serializers.DateTimeField(),
                    "end": serializers.DateTimeField(),
                    "granularity": serializers.CharField(),
                    "group_by": serializers.CharField(allow_null=True),
                    "totals": inline_serializer("UsageTotals", {**_COUNTS, **GPU_COST}),
                    "results": inline_serializer("UsageSummaryRow", SUMMARY_ROW, many=True),
                    "next": serializers.URLField(allow_null=True),
                },
            ),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        data = _query(SummaryQuerySerializer, request)
        page = _query(self.PageSerializer, request)
        with_cost = _query(self.CostSerializer, request)["internal_cost"]
        query = _usage_query(ctx, data)
        after = _decode_cursor(page["cursor"]) if page.get("cursor") else None
        rows = usage_rows(query, after=after, limit=page["limit"] + 1)
        more, rows = len(rows) > page["limit"], rows[: page["limit"]]
        following = None
        if more:
            params = request.query_params.copy()
            params["cursor"] = _encode_cursor(rows[-1])
            following = request.build_absolute_uri(f"{request.path}?{urlencode(params, doseq=True)}")
        # One page holding every row: the totals are its sum (no second pass over the rollups).
        totals = _row_body(usage_totals(query) if after or more else sum_rows(rows))
        if with_cost:
            gpu = gpu_cost_totals(query)
            totals |= {
                "gpu_seconds": format(gpu.gpu_seconds, "f"),
                "internal_cost_usd": format(gpu.internal_cost, "f"),
                "gpu_cost_pending": gpu.pending,
            }
        return Response(
            {
                "start": query.start,
                "end": query.end,
                "granularity": query.granularity,
                "group_by": query.group_by,
                "totals": {k: v for k, v in totals.items() if k not in ("bucket", "group")},
                "results": [_row_body(r) for r in rows],
                "next": following,
            }
        )


@export_schema(
    "Export a usage summary", "The rows of `GET /api/usage/summary` with the same parameters, all of them.",
    SummaryQuerySerializer,
)  # fmt: skip
class UsageSummaryExportApi(ExportApi):
    required_scopes = {"GET": USAGE_READ}
    kind, query_serializer = "usage-summary", SummaryQuerySerializer

    def select(self, ctx: OrgContext, data: dict[str, Any], csv: bool, params: dict[str, Any]) -> str:
        sql, summary_params = summary_statement(_usage_query(ctx, data))
        params.update(summary_params)
        return (
            f'SELECT {iso("bucket")} AS bucket, {text("grp", csv)} AS "group", requests, errors, prompt_tokens, '
            "completion_tokens, prompt_tokens + completion_tokens AS total_tokens, cost::text AS cost_usd "
            f"FROM ({sql}) s ORDER BY s.bucket NULLS FIRST, s.grp"
        )


# --- chats -----------------------------------------------------------------------------------
class ChatOutputSerializer(serializers.ModelSerializer[ChatHistory]):
    messages = serializers.JSONField()
    response = serializers.JSONField(allow_null=True)

    class Meta:
        model = ChatHistory
        fields = ["call_id", "created_at", "key_id", "model", "messages", "response"]


def _chat_filter(ctx: OrgContext, data: dict[str, Any]) -> LogFilter:
    keys = visible_keys(ctx, key=data.get("key"), own=Action.CHAT_VIEW_OWN, every=Action.CHAT_VIEW_ALL)
    return LogFilter(ctx.organization.id, keys, start=data.get("start"), end=data.get("end"))


class ChatsApi(APIView):
    required_scopes = {"GET": CHATS_READ}

    @list_schema(
        "List chat history",
        "Messages and replies of calls made with keys that keep chats (`store_chats`), newest first.",
        ChatQuerySerializer,
        ChatOutputSerializer,
        "ChatPage",
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        chats = _chat_filter(ctx, _query(ChatQuerySerializer, request)).queryset(ChatHistory)
        return paginated(self, request, chats, ChatOutputSerializer, UsagePagination)


@export_schema(
    "Export chat history", "The chats of `GET /api/chats/` with the same filters, oldest first.", ChatQuerySerializer
)
class ChatsExportApi(ExportApi):
    required_scopes = {"GET": CHATS_READ}
    kind, query_serializer = "chats", ChatQuerySerializer

    def select(self, ctx: OrgContext, data: dict[str, Any], csv: bool, params: dict[str, Any]) -> str:
        where = _chat_filter(ctx, data).where(params)
        cast = "::text" if csv else ""
        return (
            f"SELECT {iso('created_at')} AS created_at, {text('call_id', csv)} AS call_id, key_id, "
            f"{text('model', csv)} AS model, messages{cast} AS messages, "
            f"response{cast} AS response FROM chat_history WHERE {where} ORDER BY created_at, id"
        )


class ChatsDeleteApi(APIView):
    required_scopes = {"POST": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        key = serializers.UUIDField(required=False, help_text="Only this key's chats.")
        before = serializers.DateTimeField(required=False, help_text="Only chats older than this.")
        everything = serializers.BooleanField(default=False, help_text="Required to delete every chat.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("key") and not attrs.get("before") and not attrs["everything"]:
                raise serializers.ValidationError("Say what to delete: key, before, or everything=true.")
            return attrs

    @extend_schema(
        summary="Delete chat history",
        request=InputSerializer,
        responses={
            200: inline_serializer("ChatsDeleted", {"deleted": serializers.IntegerField()}),
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.RETENTION_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        keys = visible_keys(ctx, key=data.get("key"), own=Action.CHAT_VIEW_OWN, every=Action.CHAT_VIEW_ALL)
        deleted = chats_delete(organization=ctx.organization, key_ids=keys, before=data.get("before"), by=ctx.user)
        return Response({"deleted": deleted})


# --- notifications ---------------------------------------------------------------------------
class NotificationOutputSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at"]


class NotificationsApi(APIView):
    required_scopes = {"GET": USAGE_READ}

    class QuerySerializer(serializers.Serializer[dict[str, Any]]):
        unread = serializers.BooleanField(required=False, default=False, help_text="Only unread ones.")

    @list_schema(
        "List my notifications",
        "Your notifications in this organization (budget alerts, …), newest first.",
        QuerySerializer,
        NotificationOutputSerializer,
        "NotificationPage",
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        unread = _query(self.QuerySerializer, request)["unread"]
        notifications = notifications_list(ctx=ctx, unread=unread)
        return paginated(self, request, notifications, NotificationOutputSerializer, UsagePagination)


class NotificationReadApi(APIView):
    required_scopes = {"POST": USAGE_READ}

    @extend_schema(
        summary="Mark a notification read",
        request=None,
        responses={200: NotificationOutputSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, notification_id: int) -> Response:
        ctx = org_context(request)
        found = notification_mark_read(notification=notification_get(ctx=ctx, notification_id=notification_id))
        return Response(NotificationOutputSerializer(found).data)


# --- retention -------------------------------------------------------------------------------
class RetentionApi(APIView):
    required_scopes = {"GET": CHATS_READ, "PATCH": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        log_retention_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        chat_retention_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    OutputSerializer = inline_serializer(
        "Retention",
        {
            "log_retention_days": serializers.IntegerField(allow_null=True, help_text="Yours; null: the platform's."),
            "chat_retention_days": serializers.IntegerField(allow_null=True),
            "effective_log_retention_days": serializers.IntegerField(),
            "effective_chat_retention_days": serializers.IntegerField(),
            "platform_log_retention_days": serializers.IntegerField(help_text="The most the platform keeps."),
            "platform_chat_retention_days": serializers.IntegerField(),
        },
    )

    @extend_schema(summary="Show retention", responses={200: OutputSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.USAGE_VIEW_ALL)
        return Response(retention_get(organization=ctx.organization))

    @extend_schema(
        summary="Change retention",
        description="How long this organization's request logs and chats are kept (at most the platform's).",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.RETENTION_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = retention_set(organization=ctx.organization, changes=dict(serializer.validated_data), by=ctx.user)
        return Response(body, status=status.HTTP_200_OK)
