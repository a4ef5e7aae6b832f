"""Session auth for the REST API: CSRF token, login, logout, current user."""

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Membership, User
from llmaas.errors import Unauthorized


class CsrfApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request)})


class LoginApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            email=serializer.validated_data["email"].lower(),
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise Unauthorized("Wrong email or password.", code="invalid_credentials")
        login(request._request, user)
        return Response(_me(user))


class LogoutApi(APIView):
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        return Response(_me(request.user))


def _me(user: User) -> dict[str, object]:
    memberships = Membership.objects.filter(user=user).select_related("organization").order_by("created_at")
    return {
        "id": str(user.pk),
        "email": user.email,
        "name": user.name,
        "organizations": [
            {
                "id": str(m.organization_id),
                "name": m.organization.name,
                "role": m.role,
                "personal": m.organization.personal_for_id == user.pk,
            }
            for m in memberships
        ],
    }
