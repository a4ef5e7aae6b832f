from django.urls import path

from audit.apis import AuditListApi

urlpatterns = [path("", AuditListApi.as_view(), name="audit")]
