from django.db import models
from django.utils import timezone

from inference.proxy.contract import STATUSES


class RequestLog(models.Model):
    """One row per call through the proxy, written once (idempotent on LiteLLM's call id).

    Ids are plain columns, not foreign keys: logs outlive keys and organizations, and the
    ingest path stays a single bulk insert.
    """

    call_id = models.CharField(max_length=100, unique=True)
    org_id = models.UUIDField(null=True)
    key_id = models.UUIDField(null=True)
    user_id = models.UUIDField(null=True)
    model = models.CharField(max_length=255)
    deployment_id = models.CharField(max_length=255, null=True)
    prompt_tokens = models.IntegerField()
    completion_tokens = models.IntegerField()
    cost = models.DecimalField(max_digits=20, decimal_places=10, help_text="USD")
    latency_ms = models.FloatField()
    ttft_ms = models.FloatField(null=True)
    status = models.CharField(max_length=16, choices=[(s, s) for s in STATUSES])
    error_type = models.CharField(max_length=255, null=True)
    stream = models.BooleanField()
    end_user = models.CharField(max_length=255, null=True)
    tokens_estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(help_text="When the call started")
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "request_logs"
        indexes = [
            models.Index(fields=["org_id", "created_at"], name="request_logs_org_time"),
            models.Index(fields=["key_id", "created_at"], name="request_logs_key_time"),
        ]

    def __str__(self) -> str:
        return f"{self.call_id} {self.model} {self.status}"


class ChatHistory(models.Model):
    """Messages and reply of a call whose key opted in to chat history."""

    request_log = models.OneToOneField(RequestLog, on_delete=models.CASCADE, related_name="chat")
    org_id = models.UUIDField(null=True)
    key_id = models.UUIDField(null=True)
    messages = models.JSONField()
    response = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "chat_history"
        indexes = [models.Index(fields=["key_id", "created_at"], name="chat_history_key_time")]

    def __str__(self) -> str:
        return f"chat of {self.request_log_id}"
