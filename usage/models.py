"""Usage: request logs (partitioned by month), chat history, rollups, budget alerts, notifications.

``request_logs`` is a declaratively partitioned table (RANGE on ``created_at``, one partition a
month plus a default one; see partitions.py): PostgreSQL requires every unique constraint to
include the partition key, so a call is stored once per ``(call_id, created_at)``: a record is
redelivered with the same start time, so this is still exactly once per call.
"""

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from inference.proxy.contract import STATUSES


class RequestLog(models.Model):
    """One row per call through the proxy, written once (idempotent on LiteLLM's call id).

    Ids are plain columns, not foreign keys: logs outlive keys and organizations, and the
    ingest path stays a single bulk insert. The table's DDL lives in migration 0002 (partitioned;
    the database's primary key is ``(id, created_at)``).
    """

    id = models.BigAutoField(primary_key=True)
    call_id = models.CharField(max_length=100)
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
    # The call's x-request-id (inference/proxy/logs.py): the same id as in nginx's, Django's and
    # LiteLLM's log lines. Calls stored before it was recorded have none.
    request_id = models.CharField(max_length=64, null=True)
    # The backend's busy time this call is charged (usage/gpu_cost.py: each instant split equally
    # among the calls in flight on the backend, times its GPUs) and that time at the backend's
    # hourly cost: filled by beat once the call's window is closed; NULL until then.
    gpu_seconds = models.DecimalField(max_digits=16, decimal_places=6, null=True)
    internal_cost = models.DecimalField(max_digits=20, decimal_places=10, null=True, help_text="USD")
    created_at = models.DateTimeField(help_text="When the call started")
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "request_logs"
        constraints = [models.UniqueConstraint(fields=["call_id", "created_at"], name="request_logs_call_once")]
        indexes = [
            models.Index(fields=["org_id", "created_at"], name="request_logs_org_time"),
            models.Index(fields=["key_id", "created_at"], name="request_logs_key_time"),
            # Time ranges across organizations (usage/gpu_cost.py): a BRIN index, a few pages per
            # partition, nearly free to keep on an append-mostly table.
            BrinIndex(fields=["created_at"], name="request_logs_time_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.call_id} {self.model} {self.status}"


class ChatHistory(models.Model):
    """Messages and reply of a call whose key opted in to chat history.

    Tied to its request log by ``(call_id, created_at)`` (no foreign key: request_logs is
    partitioned, and chats have their own retention).
    """

    call_id = models.CharField(max_length=100)
    request_log_id = models.BigIntegerField(null=True)
    org_id = models.UUIDField(null=True)
    key_id = models.UUIDField(null=True)
    model = models.CharField(max_length=255, default="")
    messages = models.JSONField()
    response = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "chat_history"
        constraints = [models.UniqueConstraint(fields=["call_id", "created_at"], name="chat_history_call_once")]
        indexes = [
            models.Index(fields=["key_id", "created_at"], name="chat_history_key_time"),
            models.Index(fields=["org_id", "created_at"], name="chat_history_org_time"),
            models.Index(fields=["created_at"], name="chat_history_time"),
        ]

    def __str__(self) -> str:
        return f"chat of {self.call_id}"


class UsageBucket(models.Model):
    """Totals of one organization's calls in one time bucket, per key and model.

    Each bucket holds a small cube (usage.rollups.LEVELS): per (key, model) at level 0, per end
    user (the OpenAI ``user`` field) at level 1, the total at 2, per model at 3, per key at 4;
    dimensions a level sums away are NULL (key) or empty (model, end user).
    """

    bucket = models.DateTimeField(help_text="Start of the bucket (UTC)")
    org_id = models.UUIDField()
    level = models.SmallIntegerField(default=0)
    key_id = models.UUIDField(null=True)
    model = models.CharField(max_length=255)
    end_user = models.CharField(max_length=255, default="")
    requests = models.BigIntegerField()
    errors = models.BigIntegerField(help_text="Calls whose status is not success")
    prompt_tokens = models.BigIntegerField()
    completion_tokens = models.BigIntegerField()
    cost = models.DecimalField(max_digits=24, decimal_places=10)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.org_id} {self.bucket:%Y-%m-%d %H:%M} {self.model}"


def _one_row(table: str) -> models.UniqueConstraint:
    """One row per bucket, organization, level, key, model and end user (also the query index)."""
    return models.UniqueConstraint(
        fields=["org_id", "level", "bucket", "key_id", "model", "end_user"],
        name=f"{table}_one_row",
        nulls_distinct=False,
    )


class UsageHourly(UsageBucket):
    class Meta:
        db_table = "usage_hourly"
        constraints = [_one_row("usage_hourly")]


class UsageDaily(UsageBucket):
    class Meta:
        db_table = "usage_daily"
        constraints = [_one_row("usage_daily")]


class MonthlyUsage(UsageBucket):
    class Meta:
        db_table = "monthly_usage"
        constraints = [_one_row("monthly_usage")]


class UsageDelta(UsageBucket):
    """What one ingest added to one hour of an organization and is not in its rollup yet.

    Written by the ingest in the same transaction as the rows (append-only: one small cube a
    batch and hour, every level, end users included), consumed by the aggregation, which
    recomputes those hours and deletes the deltas it saw. So an hour's rollup plus its deltas is
    always the hour's exact total, and an hour with a total (level 2) delta is an hour whose
    rollup is not up to date ("dirty").
    """

    id = models.BigAutoField(primary_key=True)

    class Meta:
        db_table = "usage_deltas"
        indexes = [models.Index(fields=["org_id", "level", "bucket"], name="usage_delta_org_level_hour")]


class RetentionPolicy(models.Model):
    """How long an organization's request logs and chats are kept (empty: the platform default)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="retention")
    log_retention_days = models.PositiveIntegerField(null=True, blank=True)
    chat_retention_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"retention of {self.organization_id}"


class BudgetAlert(models.Model):
    """A budget threshold crossed: at most one per scope, period, threshold and limit.

    The unique constraint is what makes an alert fire once even when two checks race; a row
    at threshold 100 is also the block that check_budgets publishes to Redis.
    """

    scope = models.CharField(max_length=8)  # key | org
    scope_id = models.UUIDField()
    period_id = models.CharField(max_length=16)
    threshold = models.PositiveSmallIntegerField()  # percent: 90, 100
    limit_nano = models.BigIntegerField(help_text="The budget it was measured against (nano-USD)")
    spent_nano = models.BigIntegerField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="budget_alerts")
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "period_id", "threshold", "limit_nano"], name="budget_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_id} {self.period_id} {self.threshold}%"


class Notification(models.Model):
    """An in-app notification for one member of an organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32)  # e.g. budget.threshold
    title = models.CharField(max_length=200)
    body = models.TextField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "organization", "-created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return self.title


class GpuCostWatermark(models.Model):
    """How far GPU cost is allocated (usage/gpu_cost.py): every call that ended before ``until``
    has its GPU-seconds and internal cost. One row, claimed with a conditional UPDATE."""

    until = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"GPU cost allocated until {self.until:%Y-%m-%d %H:%M:%S}"
