from django.urls import path

from inference.apis import ModelListApi

urlpatterns = [path("", ModelListApi.as_view(), name="models")]
