"""OpenAPI helpers shared by every app's views: the error envelope, the organization header.

Views declare their errors with ``error_responses(400, 403, 404)``; the schema then documents
the one envelope (``{"error": {"code", "message", "details"}}``) for each status, and the
``LLMaaS-Organization`` header is added to every operation that is organization-scoped.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from llmaas.bearer import BearerAuthentication, ScopePermission
from llmaas.pagination import NewestFirstPagination

ORG_HEADER = "LLMaaS-Organization"

ORG_HEADER_PARAMETER = OpenApiParameter(
    ORG_HEADER,
    type=OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=False,
    description="The organization this request acts in (an organization id); default: your personal organization.",
)

# Paths that are not organization-scoped: no LLMaaS-Organization header.
UNSCOPED_PREFIXES = (
    "/api/auth/",
    "/api/health",
    "/api/schema",
    "/api/docs",
    "/api/redoc",
    "/api/webhooks/",
    "/api/invitations/",
    "/api/organizations/",  # the caller's organizations, and creating one
)


class AutoSchema(SpectacularAutoSchema):
    """Names from our conventions: one view class per operation, nested Input/Output serializers.

    ``LoginApi.InputSerializer`` becomes the component ``LoginInput`` (not a clash of many
    ``Input``s), and an operation's id is its view and method (``key_item_patch``).
    """

    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        outer, _, inner = type(serializer).__qualname__.rpartition(".")
        if outer:
            return outer.removesuffix("Api") + inner
        return str(super().get_serializer_name(serializer, direction))

    def get_operation_id(self) -> str:
        view = type(self.view).__name__.removesuffix("Api")
        return re.sub(r"(?<!^)(?=[A-Z])", "_", view).lower() + "_" + self.method.lower()

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            self._document_token_errors(operation)
        return operation

    def _document_token_errors(self, operation: dict[str, Any]) -> None:
        """Any operation answers a bad access token with 401 (authentication runs before the
        view, even one open to anonymous callers); one behind ScopePermission answers a token
        without the scope, or any token if it is session-only, with 403."""
        responses = operation.setdefault("responses", {})
        if any(isinstance(a, BearerAuthentication) for a in self.view.get_authenticators()):
            responses.setdefault("401", _envelope(401))
        if any(isinstance(p, ScopePermission) for p in self.view.get_permissions()):
            responses.setdefault("403", _envelope(403))


ErrorEnvelope = inline_serializer(
    "ErrorEnvelope",
    {
        "error": inline_serializer(
            "Error",
            {
                "code": serializers.CharField(help_text="Stable, machine-readable code, e.g. `key_not_found`."),
                "message": serializers.CharField(help_text="What went wrong, for humans."),
                "details": serializers.DictField(help_text="Specifics, e.g. per-field validation problems."),
            },
        )
    },
)

_MEANINGS = {
    400: "The request is not valid (`invalid_request`: the fields' problems are in `details`).",
    401: "Not logged in (`not_authenticated`), wrong credentials, or an access token that is not valid "
    "(`invalid_token`: malformed, expired, revoked, signed by an unknown key, or its user is no longer active).",
    403: "Your role in the organization does not allow this (`permission_denied`), the CSRF token is missing, "
    "or the access token lacks this operation's scope (`insufficient_scope`; `WWW-Authenticate` names it) "
    "or may not call it at all (`session_required`).",
    404: "No such object in this organization (objects of other organizations are never revealed).",
    409: "The object's state does not allow this (e.g. a revoked key).",
    413: "The body is too large.",
    429: "Too many attempts; retry after the time in `Retry-After`.",
    503: "A dependency (Redis) is unreachable; retry after the time in `Retry-After`.",
}

# What any endpoint behind a session may answer besides its own errors.
AUTHENTICATED = (401, 403)


def _envelope(status: int) -> dict[str, Any]:
    """A status's error response, as the generated document spells one."""
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
        "description": _MEANINGS[status],
    }


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=…)``: the envelope, with what each status means."""
    return {status: OpenApiResponse(ErrorEnvelope, description=_MEANINGS[status]) for status in statuses}


def add_org_header(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: document the organization header on every organization-scoped operation."""
    header = {
        "in": "header",
        "name": ORG_HEADER,
        "required": False,
        "schema": {"type": "string", "format": "uuid"},
        "description": ORG_HEADER_PARAMETER.description,
    }
    # A malformed header is a 400 on any of them, whatever else the operation documents.
    bad_header = {
        "description": f"The request is not valid, e.g. the {ORG_HEADER} header is not an organization id.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    for path, operations in result.get("paths", {}).items():
        if path.startswith(UNSCOPED_PREFIXES):
            continue
        for operation in operations.values():
            params = operation.setdefault("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == ORG_HEADER for p in params):
                params.append(header)
            operation.setdefault("responses", {}).setdefault("400", bad_header)
    return result


def cursor_parameters(pagination: type[CursorPagination] = NewestFirstPagination) -> list[OpenApiParameter]:
    """The query parameters of a list paginated by ``pagination``."""
    return [
        OpenApiParameter(
            "cursor",
            OpenApiTypes.STR,
            OpenApiParameter.QUERY,
            description="The opaque cursor of the `next` or `previous` link.",
        ),
        OpenApiParameter(
            "limit",
            OpenApiTypes.INT,
            OpenApiParameter.QUERY,
            description=f"Page size (default {pagination.page_size}, at most {pagination.max_page_size}).",
        ),
    ]


CURSOR_PARAMETERS = cursor_parameters()


def cursor_page(item: type[serializers.BaseSerializer[Any]], name: str) -> serializers.Serializer[Any]:
    """The response of a cursor-paginated list of ``item``: ``{next, previous, results}``."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
            "results": item(many=True),
        },
    )
