from rest_framework.authentication import SessionAuthentication as DRFSessionAuthentication
from rest_framework.request import Request


class SessionAuthentication(DRFSessionAuthentication):
    """Session auth (with CSRF) that answers 401, not 403, when nobody is logged in."""

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="api"'
