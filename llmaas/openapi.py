"""OpenAPI helpers shared by every app's views: the error envelope, the organization header.

Views declare their errors with ``error_responses(400, 403, 404)``; the schema then documents
the one envelope (``{"error": {"code", "message", "details"}}``) for each status, and the
``LLMaaS-Organization`` header is added to every operation that is organization-scoped.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

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
)

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
    401: "Not logged in (`not_authenticated`), or wrong credentials.",
    403: "Your role in the organization does not allow this (`permission_denied`), or the CSRF token is missing.",
    404: "No such object in this organization (objects of other organizations are never revealed).",
    409: "The object's state does not allow this (e.g. a revoked key).",
    413: "The body is too large.",
    429: "Too many attempts; retry after the time in `Retry-After`.",
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
    for path, operations in result.get("paths", {}).items():
        if path.startswith(UNSCOPED_PREFIXES):
            continue
        for operation in operations.values():
            params = operation.setdefault("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == ORG_HEADER for p in params):
                params.append(header)
    return result
