"""Cursor pagination for every list of the API: stable under inserts, opaque cursors."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100


class OldestFirstPagination(NewestFirstPagination):
    ordering = ("created_at", "id")


def paginated(
    view: APIView,
    request: Request,
    queryset: QuerySet[Any],
    serializer: type[serializers.BaseSerializer[Any]],
    pagination: type[CursorPagination] = NewestFirstPagination,
) -> Response:
    """One page of ``queryset`` as ``{next, previous, results}``."""
    paginator = pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)
