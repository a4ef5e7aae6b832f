"""Routes of oauth/apis.py: included by llmaas/urls.py under /api/organization/ and /api/auth/."""

from django.urls import path

from oauth import apis

app_urlpatterns = [
    path("apps", apis.AppCollectionApi.as_view(), name="oauth-apps"),
    path("apps/<str:client_id>", apis.AppItemApi.as_view(), name="oauth-app"),
    path("apps/<str:client_id>/secret", apis.AppSecretApi.as_view(), name="oauth-app-secret"),
]

grant_urlpatterns = [
    path("grants", apis.GrantCollectionApi.as_view(), name="oauth-grants"),
    path("grants/<str:client_id>", apis.GrantItemApi.as_view(), name="oauth-grant"),
]
