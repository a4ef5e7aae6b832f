from django.urls import path

from keys.apis import (
    KeyCollectionApi,
    KeyEffectiveApi,
    KeyItemApi,
    KeyRotateApi,
    OrganizationLimitsApi,
    PlaygroundKeyApi,
)

urlpatterns = [
    path("", KeyCollectionApi.as_view(), name="keys"),
    path("playground", PlaygroundKeyApi.as_view(), name="key-playground"),
    path("<str:key_id>/", KeyItemApi.as_view(), name="key"),
    path("<str:key_id>/rotate", KeyRotateApi.as_view(), name="key-rotate"),
    path("<str:key_id>/effective", KeyEffectiveApi.as_view(), name="key-effective"),
]
# /api/organization/limits: the current organization's limits (keys and organizations share them).
organization_limits_urlpatterns = [path("limits", OrganizationLimitsApi.as_view(), name="organization-limits")]
