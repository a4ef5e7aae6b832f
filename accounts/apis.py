"""REST API of accounts: /api/auth/… (session, sign-up, verification, passwords, profile).

Session auth with CSRF; anonymous calls (sign-up, login, reset) need no CSRF token. Answers
never reveal whether an address has an account.
"""

from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import user_services
from accounts.context import request_user
from accounts.models import User
from accounts.selectors import memberships_of
from llmaas.openapi import AUTHENTICATED, error_responses
from llmaas.scopes import PROFILE, SESSION_ONLY

TAG = ["auth"]


def _password() -> serializers.CharField:
    return serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


def _token() -> serializers.CharField:
    return serializers.CharField(max_length=200, help_text="The token from the link in the mail.")


class MembershipOutputSerializer(serializers.Serializer[object]):
    id = serializers.UUIDField(source="organization_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    personal = serializers.BooleanField(source="organization.is_personal")


class MeOutputSerializer(serializers.Serializer[User]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    status = serializers.ChoiceField(
        source="account_status",
        choices=["pending_approval", "pending_verification", "active"],
        help_text="`pending_approval`: an operator must approve the account before it creates keys; "
        "`pending_verification`: follow the link mailed to you; `active`: all set.",
    )
    approved = serializers.BooleanField(source="is_approved")
    email_verified = serializers.BooleanField()
    is_staff = serializers.BooleanField(help_text="An operator (may use the admin site).")
    date_joined = serializers.DateTimeField()
    organizations = serializers.SerializerMethodField()

    @extend_schema_field(MembershipOutputSerializer(many=True))
    def get_organizations(self, user: User) -> list[dict[str, object]]:
        memberships = memberships_of(user=user).order_by("created_at", "id")
        return list(MembershipOutputSerializer(memberships, many=True).data)


def _me(user: User) -> Response:
    return Response(MeOutputSerializer(user).data)


Accepted = inline_serializer("Accepted", {"detail": serializers.CharField()})


def _accepted(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class CsrfApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAG,
        summary="The CSRF token",
        description="Send it back as `X-CSRFToken` on every write made with the session cookie.",
        responses={200: inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})},
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request)})


class SignupApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        email = serializers.EmailField(max_length=254)
        password = _password()
        name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)

    @extend_schema(
        tags=TAG,
        summary="Sign up",
        description=(
            "Creates an account and mails a verification link. Addresses at the operator's allowed "
            "domains are approved at once; others wait for an operator's approval (they may log in "
            "meanwhile, but not create keys). The answer is the same whether or not the address "
            "already has an account (its owner gets a mail saying so)."
        ),
        request=InputSerializer,
        responses={202: Accepted, **error_responses(400, 403, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_services.user_sign_up(**serializer.validated_data)
        return _accepted("Check your mailbox for a link to confirm your address.")


class VerifyEmailApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        token = _token()

    @extend_schema(
        tags=TAG,
        summary="Confirm an email address",
        description="Uses the link's token once; `token_invalid`, `token_used` or `token_expired` otherwise.",
        request=InputSerializer,
        responses={
            200: inline_serializer("EmailVerified", {"email_verified": serializers.BooleanField()}),
            **error_responses(400),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_services.email_verify(token=serializer.validated_data["token"])
        return Response({"email_verified": True})


class VerifyEmailResendApi(APIView):
    # It only mails the caller's own address (throttled per address and per IP): the portal, which
    # holds a token, offers it to an account that is waiting for verification.
    required_scopes = {"POST": PROFILE}

    @extend_schema(
        tags=TAG,
        summary="Mail a new verification link",
        description="Earlier links stop working. 409 `email_already_verified` if there is nothing to verify.",
        request=None,
        responses={202: Accepted, **error_responses(*AUTHENTICATED, 409, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        user_services.email_verification_resend(user=request_user(request))
        return _accepted("A new link is on its way.")


class LoginApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        email = serializers.EmailField(max_length=254)
        password = _password()

    @extend_schema(
        tags=TAG,
        summary="Log in",
        description=(
            "Starts a session (cookie). Repeated failures, per account and per client IP, are "
            "refused for a while with 429 and `Retry-After`, correct password or not. A pending "
            "account may log in (see `status`); a deactivated one cannot."
        ),
        request=InputSerializer,
        responses={200: MeOutputSerializer, **error_responses(400, 401, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_services.user_log_in(request=request._request, **serializer.validated_data)
        return _me(user)


class LogoutApi(APIView):
    required_scopes = {"*": SESSION_ONLY}

    @extend_schema(tags=TAG, summary="Log out", request=None, responses={204: None, **error_responses(*AUTHENTICATED)})
    def post(self, request: Request) -> Response:
        user_services.user_log_out(request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    required_scopes = {"GET": PROFILE, "PATCH": PROFILE}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        name = serializers.CharField(max_length=150, allow_blank=True)

    @extend_schema(
        tags=TAG,
        summary="The current user",
        description="The account's status and the organizations it belongs to, with its role in each.",
        responses={200: MeOutputSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return _me(request_user(request))

    @extend_schema(
        tags=TAG,
        summary="Change one's profile",
        request=InputSerializer,
        responses={200: MeOutputSerializer, **error_responses(400, *AUTHENTICATED)},
    )
    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _me(
            user_services.user_profile_update(user=request_user(request), name=serializer.validated_data["name"])
        )


class PasswordChangeApi(APIView):
    required_scopes = {"*": SESSION_ONLY}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        current_password = _password()
        new_password = _password()

    @extend_schema(
        tags=TAG,
        summary="Change one's password",
        description="Other sessions end; this one stays. Wrong current passwords count like failed sign-ins.",
        request=InputSerializer,
        responses={204: None, **error_responses(400, *AUTHENTICATED, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_services.user_password_change(
            request=request._request, user=request_user(request), **serializer.validated_data
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        email = serializers.EmailField(max_length=254)

    @extend_schema(
        tags=TAG,
        summary="Ask for a password reset link",
        description="The same answer whether or not the address has an account.",
        request=InputSerializer,
        responses={202: Accepted, **error_responses(400, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_services.password_reset_request(email=serializer.validated_data["email"])
        return _accepted("If the address has an account, a link to reset its password is on its way.")


class PasswordResetConfirmApi(APIView):
    required_scopes = {"*": SESSION_ONLY}
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        token = _token()
        password = _password()

    @extend_schema(
        tags=TAG,
        summary="Set a new password with a reset link",
        description="Uses the token once; every session of the account ends. Log in afterwards.",
        request=InputSerializer,
        responses={204: None, **error_responses(400, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
