from django.urls import path

from webhooks.apis import litellm_usage_webhook

urlpatterns = [path("litellm", litellm_usage_webhook, name="webhook-litellm")]
