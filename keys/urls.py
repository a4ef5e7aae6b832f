from django.urls import path

from keys.apis import KeyCollectionApi, KeyItemApi

urlpatterns = [
    path("", KeyCollectionApi.as_view(), name="keys"),
    path("<str:key_id>/", KeyItemApi.as_view(), name="key"),
]
