from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.organization_urls import invitations_urlpatterns, organization_urlpatterns, organizations_urlpatterns
from billing.urls import stripe_webhook_urlpatterns
from keys.urls import organization_limits_urlpatterns
from llmaas.metrics import metrics_view
from llmaas.redis_client import redis_client
from oauth.api_urls import app_urlpatterns, grant_urlpatterns
from oauth.urls import well_known_urlpatterns
from usage.urls import chat_urls, notification_urls, usage_urls


def health(request: HttpRequest) -> JsonResponse:
    """Liveness of the control plane's dependencies (PostgreSQL, Redis)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = type(exc).__name__
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = type(exc).__name__
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _json_error(404, "not_found", "No such endpoint.")
    return page_not_found(request, exception or Exception())


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _json_error(500, "internal_error", "Something went wrong on our side; it has been logged.")
    return default_server_error(request)


handler404 = not_found
handler500 = server_error

admin.site.site_header = "LLMaaS operations"
admin.site.site_title = "LLMaaS admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", health, name="health"),
    # Internal: Prometheus scrapes Django's port; nginx never routes /metrics publicly.
    path("metrics", metrics_view, name="metrics"),
    path("o/", include("oauth.urls", namespace="oauth2_provider")),
    path(".well-known/", include(well_known_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/auth/", include("accounts.urls")),
    path("api/auth/", include(grant_urlpatterns)),
    path("api/organizations/", include(organizations_urlpatterns)),
    path("api/organization", include(organization_urlpatterns)),
    path("api/organization/", include("accounts.organization_urls")),
    path("api/organization/", include(organization_limits_urlpatterns)),
    path("api/organization/", include(app_urlpatterns)),
    path("api/invitations/", include(invitations_urlpatterns)),
    path("api/keys/", include("keys.urls")),
    path("api/models/", include("inference.urls")),
    path("api/audit/", include("audit.urls")),
    path("api/webhooks/", include("webhooks.urls")),
    path("api/webhooks/", include(stripe_webhook_urlpatterns)),
    path("api/billing/", include("billing.urls")),
    path("api/usage/", include(usage_urls)),
    path("api/chats/", include(chat_urls)),
    path("api/notifications/", include(notification_urls)),
]
