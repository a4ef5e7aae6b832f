"""REST API for the model catalog: GET /api/models/ (what the organization's keys may call)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context
from accounts.roles import Action
from inference.selectors import model_catalog_for
from llmaas.openapi import error_responses
from llmaas.scopes import KEYS_READ


class HealthCheckSerializer(serializers.Serializer[Any]):
    checked_at = serializers.DateTimeField()
    ok = serializers.BooleanField()


RUN_STATES = ["stopped", "starting", "running", "stopping", "failed"]


class DeploymentAvailabilitySerializer(serializers.Serializer[Any]):
    available_now = serializers.BooleanField(help_text="Its schedule (or an operator's override) lets it serve now.")
    reason = serializers.ChoiceField(
        choices=["always", "window", "outside_window", "override", "no_window"],
        help_text="always: no windows; window / outside_window: by its windows; override: an operator's.",
    )
    next_change = serializers.DateTimeField(
        allow_null=True, help_text="When it next opens (unavailable) or closes (available); null: never."
    )
    next_window = serializers.CharField(help_text="The window that opens next, e.g. 'mon,tue 22:00-06:00'.")
    windows = serializers.ListField(child=serializers.CharField(), help_text="Its weekly windows (empty: always).")
    time_zone = serializers.CharField(help_text="The zone its windows are read in.")
    run_state = serializers.ChoiceField(
        choices=RUN_STATES, help_text="Its process: an on-demand deployment starts on its first call."
    )
    on_demand = serializers.BooleanField(help_text="Started on demand and stopped when idle.")
    start_retry_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After failed starts: when the next one is tried (calls meanwhile get 503). Null: none pending.",
    )


class ModelAvailabilitySerializer(serializers.Serializer[Any]):
    available_now = serializers.BooleanField(help_text="Some deployment's schedule lets it serve now.")
    next_change = serializers.DateTimeField(allow_null=True, help_text="When that changes (null: not scheduled).")
    next_window = serializers.CharField(help_text="When unavailable: the window that opens next.")
    running = serializers.BooleanField(help_text="A deployment open now is running (false: the first call starts one).")


class DeploymentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    routing_profile = serializers.ChoiceField(choices=["throughput", "long_context"])
    context_window = serializers.IntegerField()
    max_concurrency = serializers.IntegerField(allow_null=True)
    health = serializers.ChoiceField(choices=["unknown", "healthy", "unhealthy"])
    health_checked_at = serializers.DateTimeField(allow_null=True)
    health_history = HealthCheckSerializer(many=True, help_text="The last probes, newest first.")
    availability = DeploymentAvailabilitySerializer()


class ModelSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="The model name to send as `model`.")
    aliases = serializers.ListField(child=serializers.CharField(), help_text="Other names it answers to.")
    mode = serializers.ChoiceField(choices=["chat", "embedding"])
    context_window = serializers.IntegerField(help_text="The largest window among its deployments, in tokens.")
    max_output_tokens = serializers.IntegerField()
    input_price_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, help_text="USD per million.")
    output_price_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, help_text="USD per million.")
    available = serializers.BooleanField(help_text="At least one deployment can take calls now.")
    health = serializers.ChoiceField(
        choices=["healthy", "degraded", "unavailable"],
        help_text="healthy: every deployment is up (or not probed yet); degraded: some are down; unavailable: all.",
    )
    availability = ModelAvailabilitySerializer(help_text="When it serves (windows in the operator's time zone).")
    deployments = DeploymentSerializer(many=True)


class ModelListOutputSerializer(serializers.Serializer[Any]):
    results = ModelSerializer(many=True)


class ModelListApi(APIView):
    required_scopes = {"GET": KEYS_READ}  # what the organization's keys may be given

    @extend_schema(
        tags=["models"],
        summary="Models",
        description=(
            "The enabled models the current organization's keys may use (its model allow-list, or every model), "
            "with list prices per million tokens, context windows, mode (chat or embedding), aliases and health "
            "(each deployment's state and its last probes). Prices are the dearest of the model's deployments: "
            "a call is billed at the price of the deployment that served it, never more."
        ),
        responses={200: ModelListOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.MODEL_LIST)
        models = model_catalog_for(allowed=ctx.organization.allowed_models or None)
        return Response(ModelListOutputSerializer({"results": models}).data)
