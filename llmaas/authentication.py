from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication as DRFSessionAuthentication
from rest_framework.request import Request


class SessionAuthentication(DRFSessionAuthentication):
    """Session auth (with CSRF) that answers 401, not 403, when nobody is logged in."""

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="api"'


class SessionScheme(OpenApiAuthenticationExtension):
    """The session cookie in the OpenAPI schema (writes also need the X-CSRFToken header)."""

    target_class = "llmaas.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": (
                "Log in with POST /api/auth/login; send the csrftoken cookie's value as X-CSRFToken on writes."
            ),
        }
