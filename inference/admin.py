"""Operators manage the fleet here: backends (with their health and its history), model
deployments and aliases. Every save or delete goes through the services' publishing, so the
proxy's routers follow within a second."""

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from inference.models import AvailabilityWindow, Backend, BackendHealthCheck, GpuHost, ModelAlias, ModelDeployment
from inference.publishing import catalog_publish_on_commit
from inference.pulls import pull_summary
from inference.tasks import deployment_pull_task


class PublishingAdmin(admin.ModelAdmin):
    """Publishes the catalog after every change made here (on commit)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        catalog_publish_on_commit()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        catalog_publish_on_commit()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        catalog_publish_on_commit()


class HealthCheckInline(admin.TabularInline):
    model = BackendHealthCheck
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("checked_at", "ok", "latency_ms", "error")
    readonly_fields = fields
    ordering = ("-checked_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BackendHealthCheck]:
        return super().get_queryset(request).order_by("-checked_at")


class DeploymentInline(admin.TabularInline):
    model = ModelDeployment
    extra = 0
    fields = ("name", "public_name", "upstream_model", "context_window", "routing_profile", "enabled")
    show_change_link = True


class WindowInline(admin.TabularInline):
    model = AvailabilityWindow
    extra = 0
    fields = ("days", "start", "end")
    verbose_name_plural = "availability windows (operator's time zone, LLMAAS_SCHEDULE_TIME_ZONE; none: always)"


@admin.register(Backend)
class BackendAdmin(PublishingAdmin):
    list_display = (
        "name", "kind", "base_url", "host", "gpu_ids", "hourly_cost_usd", "health", "health_checked_at", "health_error"
    )  # fmt: skip
    list_filter = ("kind", "health")
    search_fields = ("name", "base_url", "host")
    readonly_fields = (
        "health", "health_checked_at", "health_error", "run_state", "run_state_at", "run_error", "start_failures",
        "start_retry_at", "created_at", "updated_at",
    )  # fmt: skip
    inlines = (DeploymentInline, HealthCheckInline)


@admin.register(ModelDeployment)
class ModelDeploymentAdmin(PublishingAdmin):
    list_display = (
        "name",
        "public_name",
        "backend",
        "upstream_model",
        "mode",
        "routing_profile",
        "context_window",
        "max_concurrency",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "pull",
        "enabled",
    )
    list_filter = ("enabled", "mode", "routing_profile", "backend")
    list_select_related = ("backend",)
    search_fields = ("name", "public_name", "upstream_model")
    readonly_fields = ("pull", "created_at", "updated_at")
    actions = ("enable", "disable", "pull_model")
    inlines = (WindowInline,)

    @admin.display(description="Ollama pull")
    def pull(self, obj: ModelDeployment) -> str:
        return pull_summary(obj.pull_progress) if obj.backend.kind == Backend.Kind.OLLAMA else "—"

    @admin.action(description="Pull the model onto its Ollama backend (progress under Ollama pull)")
    def pull_model(self, request: HttpRequest, queryset: QuerySet[ModelDeployment]) -> None:
        pulled = 0
        for deployment in queryset.select_related("backend"):
            if deployment.backend.kind != Backend.Kind.OLLAMA:
                self.message_user(request, f"{deployment.name}: not on an Ollama backend.", messages.WARNING)
                continue
            ModelDeployment.objects.filter(pk=deployment.pk).update(pull_progress={"status": "queued"})
            transaction.on_commit(partial(deployment_pull_task.delay, deployment.pk))
            pulled += 1
        if pulled:
            self.message_user(request, f"Pulling {pulled} model(s); reload to follow the progress.")

    @admin.action(description="Enable the selected deployments")
    def enable(self, request: HttpRequest, queryset: QuerySet[ModelDeployment]) -> None:
        queryset.update(enabled=True)
        catalog_publish_on_commit()

    @admin.action(description="Disable the selected deployments")
    def disable(self, request: HttpRequest, queryset: QuerySet[ModelDeployment]) -> None:
        queryset.update(enabled=False)
        catalog_publish_on_commit()


@admin.register(GpuHost)
class GpuHostAdmin(admin.ModelAdmin):
    """GPU inventory for placement: a backend pinned to a host's GPUs is checked against it."""

    list_display = ("name", "gpu_count", "gpu_memory_gib", "node_selector")
    search_fields = ("name",)


@admin.register(ModelAlias)
class ModelAliasAdmin(PublishingAdmin):
    list_display = ("name", "public_name", "created_at")
    search_fields = ("name", "public_name")
    readonly_fields = ("created_at",)
