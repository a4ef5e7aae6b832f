"""REST API of third-party OAuth apps.

- ``/api/organization/apps…``: the current organization's apps (owners and admins): register,
  list, show, change, rotate the client secret (shown once), delete.
- ``/api/auth/grants…``: the apps the caller has authorized; revoke one (its tokens and the
  inference keys it holds in the caller's name).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from oauth2_provider.models import Application
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.context import org_context, request_user
from llmaas.openapi import AUTHENTICATED, cursor_page, cursor_parameters, error_responses
from llmaas.pagination import NewestFirstPagination, paginated
from llmaas.scopes import ORG_ADMIN, PROFILE, SCOPES, SESSION_ONLY
from oauth import services
from oauth.models import OAuthApp
from oauth.selectors import app_get, apps_list, grants_of

APP_TAG, GRANT_TAG = ["apps"], ["grants"]
CLIENT_TYPES = [Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC]


class _UriList(serializers.ListField):
    """DOT keeps URIs space-separated in one column; the API shows a list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(), **kwargs)

    def to_representation(self, data: Any) -> list[Any]:
        return super().to_representation(str(data or "").split())


class AppOutputSerializer(serializers.Serializer[Any]):  # an OAuthApp, or its fields with the secret
    client_id = serializers.CharField(source="application.client_id")
    name = serializers.CharField(source="application.name")
    client_type = serializers.ChoiceField(source="application.client_type", choices=CLIENT_TYPES)
    redirect_uris = _UriList(source="application.redirect_uris")
    post_logout_redirect_uris = _UriList(source="application.post_logout_redirect_uris")
    logo_url = serializers.CharField(help_text="Empty: no logo.")
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(source="application.updated")


class AppSecretOutputSerializer(AppOutputSerializer):
    client_secret = serializers.CharField(
        allow_null=True,
        help_text="The client secret: in this response only (only its hash is stored). Null for a public app.",
    )


def _with_secret(registered: services.RegisteredApp) -> dict[str, Any]:
    return dict(AppSecretOutputSerializer({**_fields(registered.app), "client_secret": registered.client_secret}).data)


def _fields(app: OAuthApp) -> dict[str, Any]:
    """The app as the serializers read it (with the secret beside it, not on the model)."""
    return {
        "application": app.application,
        "logo_url": app.logo_url,
        "created_by": app.created_by,
        "created_at": app.created_at,
    }


class _UrisInput(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(max_length=services.MAX_URI_LENGTH), **kwargs)


class AppPagination(NewestFirstPagination):
    ordering = ("-created_at", "-pk")


APP_ERRORS = (400, *AUTHENTICATED, 404)
APP_DESCRIPTION = (
    "Owners and admins of the organization. Apps use the authorization code flow with PKCE (S256) "
    "only, and get ID tokens signed RS256; every user sees a consent page. Redirect URIs are "
    "matched exactly: https, or http on a loopback address (localhost, 127.0.0.1, [::1]); at most "
    f"{services.MAX_URIS}, without fragments or wildcards."
)


class AppCollectionApi(APIView):
    required_scopes = {"GET": ORG_ADMIN, "POST": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        name = serializers.CharField(max_length=100, trim_whitespace=True)
        client_type = serializers.ChoiceField(
            choices=CLIENT_TYPES,
            help_text="confidential: a server that keeps a secret; public: a browser or native app (PKCE, no secret).",
        )
        redirect_uris = _UrisInput(min_length=1, max_length=services.MAX_URIS)
        post_logout_redirect_uris = _UrisInput(required=False, max_length=services.MAX_URIS, default=list)
        logo_url = serializers.CharField(
            max_length=services.MAX_LOGO_URL_LENGTH, required=False, allow_blank=True, default="", help_text="https."
        )

    @extend_schema(
        tags=APP_TAG,
        summary="The organization's OAuth apps",
        description=APP_DESCRIPTION,
        parameters=cursor_parameters(AppPagination),
        responses={200: cursor_page(AppOutputSerializer, "AppPage"), **error_responses(*APP_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        return paginated(self, request, apps_list(ctx=org_context(request)), AppOutputSerializer, AppPagination)

    @extend_schema(
        tags=APP_TAG,
        summary="Register an OAuth app",
        description=APP_DESCRIPTION + " A confidential app's client secret is in this response only.",
        request=InputSerializer,
        responses={201: AppSecretOutputSerializer, **error_responses(*APP_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        registered = services.app_register(ctx=ctx, **serializer.validated_data)
        return Response(_with_secret(registered), status=status.HTTP_201_CREATED)


class AppItemApi(APIView):
    required_scopes = {"*": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        name = serializers.CharField(max_length=100, trim_whitespace=True, required=False)
        redirect_uris = _UrisInput(required=False, min_length=1, max_length=services.MAX_URIS)
        post_logout_redirect_uris = _UrisInput(required=False, max_length=services.MAX_URIS)
        logo_url = serializers.CharField(
            max_length=services.MAX_LOGO_URL_LENGTH, required=False, allow_blank=True, help_text="https; empty: none."
        )

    @extend_schema(
        tags=APP_TAG,
        summary="An OAuth app",
        description="The client secret is never shown again (rotate it to get a new one).",
        responses={200: AppOutputSerializer, **error_responses(*APP_ERRORS)},
    )
    def get(self, request: Request, client_id: str) -> Response:
        return Response(AppOutputSerializer(app_get(ctx=org_context(request), client_id=client_id)).data)

    @extend_schema(
        tags=APP_TAG,
        summary="Change an OAuth app",
        description="Name, URIs, logo. The client type is fixed: register a new app to change it.",
        request=InputSerializer,
        responses={200: AppOutputSerializer, **error_responses(*APP_ERRORS)},
    )
    def patch(self, request: Request, client_id: str) -> Response:
        ctx = org_context(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        app = services.app_update(ctx=ctx, client_id=client_id, **serializer.validated_data)
        return Response(AppOutputSerializer(app).data)

    @extend_schema(
        tags=APP_TAG,
        summary="Delete an OAuth app",
        description=(
            "Revokes the inference keys issued to the app and every user's tokens of it first, "
            "then deletes it: nothing it obtained outlives it."
        ),
        responses={204: None, **error_responses(*APP_ERRORS)},
    )
    def delete(self, request: Request, client_id: str) -> Response:
        services.app_delete(ctx=org_context(request), client_id=client_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppSecretApi(APIView):
    required_scopes = {"POST": ORG_ADMIN}

    @extend_schema(
        tags=APP_TAG,
        summary="Rotate an app's client secret",
        description=(
            "A new secret, in this response only; the old one stops working at once (tokens already "
            "issued stay valid, refreshing them needs the new secret). A public app has none (409)."
        ),
        request=None,
        responses={201: AppSecretOutputSerializer, **error_responses(*APP_ERRORS, 409)},
    )
    def post(self, request: Request, client_id: str) -> Response:
        registered = services.app_secret_rotate(ctx=org_context(request), client_id=client_id)
        return Response(_with_secret(registered), status=status.HTTP_201_CREATED)


class GrantOutputSerializer(serializers.Serializer[Any]):  # a Grant (oauth/selectors.py)
    client_id = serializers.CharField()
    name = serializers.CharField()
    logo_url = serializers.CharField(help_text="Empty: no logo.")
    organization = serializers.CharField(
        allow_null=True, help_text="The name of the organization that registered the app."
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SCOPES)), help_text="What the app may do in your name."
    )
    first_authorized_at = serializers.DateTimeField(allow_null=True)
    last_authorized_at = serializers.DateTimeField(
        allow_null=True, help_text="When the app last got a token or a key in your name (a sign-in or a refresh)."
    )
    keys = serializers.IntegerField(help_text="Live inference keys (sk-…) issued to the app in your name.")


class GrantCollectionApi(APIView):
    # Listing one's authorized apps is "profile": it shows only what the caller allowed.
    required_scopes = {"GET": PROFILE}

    @extend_schema(
        tags=GRANT_TAG,
        summary="The apps you have authorized",
        description=(
            "Third-party apps holding a live token, or an inference key, in your name; the most "
            "recently authorized first."
        ),
        responses={
            200: inline_serializer("GrantList", {"results": GrantOutputSerializer(many=True)}),
            **error_responses(*AUTHENTICATED),
        },
    )
    def get(self, request: Request) -> Response:
        grants = grants_of(user=request_user(request))
        return Response({"results": GrantOutputSerializer(grants, many=True).data})


class GrantItemApi(APIView):
    # Session only: taking back an app's access is the user's own act, never one that an app (even
    # with every scope) may do in their name, against itself or against another app.
    required_scopes = {"DELETE": SESSION_ONLY}

    @extend_schema(
        tags=GRANT_TAG,
        summary="Revoke an app's access",
        description=(
            "Revokes the app's refresh tokens, deletes its access and ID tokens (the API refuses them "
            "at once) and revokes the inference keys issued to it in your name. 404 if you have not "
            "authorized it."
        ),
        responses={204: None, **error_responses(*AUTHENTICATED, 404)},
    )
    def delete(self, request: Request, client_id: str) -> Response:
        services.grant_revoke(user=request_user(request), client_id=client_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
