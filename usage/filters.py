"""Query parameters of the usage endpoints: one validated filter, usable as an ORM queryset (the
paginated lists) and as SQL (the streamed exports), so both always select the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from inference.proxy.contract import STATUSES
from usage.exports import FORMATS
from usage.summary import EPOCH, GRANULARITIES, GROUPS, floor

EARLIEST = EPOCH
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The longest range each granularity answers in one summary (buckets are bounded, not rows).
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=3700), "month": LATEST - EARLIEST}
MAX_SPAN["total"] = MAX_SPAN["month"]
DEFAULT_SPAN = {"hour": timedelta(days=1), "day": timedelta(days=30), "month": timedelta(days=365)}
DEFAULT_SPAN["total"] = DEFAULT_SPAN["day"]


class RangeSerializer(serializers.Serializer[dict[str, Any]]):
    start = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601 (UTC if no offset).")
    end = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601 (UTC if no offset).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("start", "end"):
            value = attrs.get(name)
            if value is not None and not EARLIEST <= value <= LATEST:
                raise serializers.ValidationError({name: "Must lie between 1970 and 2200."})
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "Must be after start."})
        return attrs


class LogQuerySerializer(RangeSerializer):
    key = serializers.UUIDField(required=False, help_text="Only this API key's calls.")
    model = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50, help_text="Repeatable."
    )
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=STATUSES), required=False, max_length=10, help_text="Repeatable."
    )


class ChatQuerySerializer(RangeSerializer):
    key = serializers.UUIDField(required=False, help_text="Only this API key's chats.")


class SummaryQuerySerializer(RangeSerializer):
    granularity = serializers.ChoiceField(choices=GRANULARITIES, default="day", help_text="UTC buckets.")
    group_by = serializers.ChoiceField(choices=GROUPS, required=False, help_text="A second dimension.")
    key = serializers.UUIDField(required=False)
    model = serializers.ListField(child=serializers.CharField(max_length=255), required=False, max_length=50)
    end_user = serializers.ListField(child=serializers.CharField(max_length=255), required=False, max_length=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        unit = attrs["granularity"]
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or floor(end - DEFAULT_SPAN[unit], "hour" if unit == "total" else unit)
        if start >= end:
            raise serializers.ValidationError({"start": "Must be before end."})
        if end - start > MAX_SPAN[unit]:
            raise serializers.ValidationError(
                {"end": f"At most {MAX_SPAN[unit].days} days at {unit} granularity; use a coarser one."}
            )
        return {**attrs, "start": start, "end": end}


class ExportFormatSerializer(serializers.Serializer[dict[str, Any]]):
    format = serializers.ChoiceField(choices=list(FORMATS), default="csv")
