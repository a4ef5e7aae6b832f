"""REST API of organizations, members and invitations.

- ``/api/organizations/``: the caller's organizations; create one.
- ``/api/organization…``: the current organization (the ``LLMaaS-Organization`` header, default
  the caller's personal one): show, rename, delete, transfer, leave, members, invitations.
- ``/api/invitations/accept``: join with an invitation's token (not organization-scoped).
"""

import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.context import OrgContext, org_context, request_user
from accounts.models import Invitation, Membership, Organization
from accounts.roles import Action, Role
from accounts.selectors import invitations_open, member_get, members_list, memberships_of
from llmaas.errors import NotFound
from llmaas.openapi import AUTHENTICATED, CURSOR_PARAMETERS, cursor_page, error_responses
from llmaas.pagination import OldestFirstPagination, paginated
from llmaas.scopes import ORG_ADMIN, PROFILE, SESSION_ONLY

ORG_TAG, MEMBER_TAG, INVITATION_TAG = ["organizations"], ["members"], ["invitations"]
ROLES = [r.value for r in Role]


def _uuid(value: str, what: str, code: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No such {what} in this organization.", code=code) from None


class OrganizationOutputSerializer(serializers.Serializer[Organization]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    personal = serializers.BooleanField(source="is_personal", help_text="A user's own organization: no other members.")
    created_at = serializers.DateTimeField()


class MyOrganizationOutputSerializer(serializers.Serializer[Membership]):
    id = serializers.UUIDField(source="organization_id")
    name = serializers.CharField(source="organization.name")
    personal = serializers.BooleanField(source="organization.is_personal")
    created_at = serializers.DateTimeField(source="organization.created_at")
    role = serializers.ChoiceField(choices=ROLES, help_text="Your role in it.")


def _current(ctx: OrgContext, org: Organization | None = None) -> Response:
    body = dict(OrganizationOutputSerializer(org or ctx.organization).data)
    body["role"] = ctx.role
    return Response(body)


CurrentOrganization = inline_serializer(
    "CurrentOrganization",
    {**OrganizationOutputSerializer().get_fields(), "role": serializers.ChoiceField(choices=ROLES)},
)


class OrganizationCollectionApi(APIView):
    required_scopes = {"GET": PROFILE, "POST": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        name = serializers.CharField(max_length=150)

    @extend_schema(
        tags=ORG_TAG,
        summary="Your organizations",
        description="Every organization you belong to, with your role in each (oldest membership first).",
        parameters=CURSOR_PARAMETERS,
        responses={200: cursor_page(MyOrganizationOutputSerializer, "MyOrganizationPage"), **error_responses(401, 404)},
    )
    def get(self, request: Request) -> Response:
        queryset = memberships_of(user=request_user(request))
        return paginated(self, request, queryset, MyOrganizationOutputSerializer, OldestFirstPagination)

    @extend_schema(
        tags=ORG_TAG,
        summary="Create an organization",
        description="You become its owner. Needs an approved account with a verified email.",
        request=InputSerializer,
        responses={201: MyOrganizationOutputSerializer, **error_responses(400, *AUTHENTICATED)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.organization_create_by(user=request_user(request), name=serializer.validated_data["name"])
        membership = Membership.objects.select_related("organization").get(organization=org, user=request_user(request))
        return Response(MyOrganizationOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class OrganizationApi(APIView):
    required_scopes = {"GET": PROFILE, "PATCH": ORG_ADMIN, "DELETE": SESSION_ONLY}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        name = serializers.CharField(max_length=150)

    @extend_schema(
        tags=ORG_TAG,
        summary="The current organization",
        responses={200: CurrentOrganization, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        return _current(org_context(request))

    @extend_schema(
        tags=ORG_TAG,
        summary="Rename the organization",
        description="Owners and admins.",
        request=InputSerializer,
        responses={200: CurrentOrganization, **error_responses(400, *AUTHENTICATED, 404)},
    )
    def patch(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.ORG_UPDATE)  # a refusal comes before any word on the body
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _current(ctx, services.organization_rename(ctx=ctx, name=serializer.validated_data["name"]))

    @extend_schema(
        tags=ORG_TAG,
        summary="Delete the organization",
        description=(
            "Owners only. Deletes its keys (refused by the proxy at once), members and invitations; "
            "usage records and the audit trail stay. A personal organization cannot be deleted (409)."
        ),
        responses={204: None, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def delete(self, request: Request) -> Response:
        services.organization_delete(ctx=org_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationTransferApi(APIView):
    required_scopes = {"*": SESSION_ONLY}

    class InputSerializer(serializers.Serializer[dict[str, object]]):
        user_id = serializers.UUIDField(help_text="The member who becomes an owner.")

    @extend_schema(
        tags=ORG_TAG,
        summary="Transfer ownership",
        description="Owners only: the member becomes an owner and you an admin, at once.",
        request=InputSerializer,
        responses={200: CurrentOrganization, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.ORG_TRANSFER)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.organization_transfer(ctx=ctx, to_user_id=serializer.validated_data["user_id"])
        return _current(OrgContext(user=ctx.user, organization=ctx.organization, role=Role.ADMIN))


class OrganizationLeaveApi(APIView):
    required_scopes = {"*": SESSION_ONLY}

    @extend_schema(
        tags=ORG_TAG,
        summary="Leave the organization",
        description=(
            "The keys you created stay with the organization. The last owner cannot leave, nor "
            "can anyone leave their personal organization (409)."
        ),
        request=None,
        responses={204: None, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        services.membership_leave(ctx=org_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberOutputSerializer(serializers.Serializer[Membership]):
    user_id = serializers.UUIDField()
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=ROLES)
    active = serializers.BooleanField(source="user.is_active")
    joined_at = serializers.DateTimeField(source="created_at")


class MemberCollectionApi(APIView):
    required_scopes = {"GET": ORG_ADMIN}

    @extend_schema(
        tags=MEMBER_TAG,
        summary="Members of the organization",
        parameters=CURSOR_PARAMETERS,
        responses={200: cursor_page(MemberOutputSerializer, "MemberPage"), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        queryset = members_list(ctx=org_context(request))
        return paginated(self, request, queryset, MemberOutputSerializer, OldestFirstPagination)


def _member_id(user_id: str) -> uuid.UUID:
    return _uuid(user_id, "member", "member_not_found")


class MemberItemApi(APIView):
    required_scopes = {"*": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        role = serializers.ChoiceField(choices=ROLES)

    @extend_schema(
        tags=MEMBER_TAG,
        summary="A member",
        responses={200: MemberOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        return Response(MemberOutputSerializer(member_get(ctx=org_context(request), user_id=_member_id(user_id))).data)

    @extend_schema(
        tags=MEMBER_TAG,
        summary="Change a member's role",
        description=(
            "Owners and admins; only owners grant or take the owner role. The last owner cannot be demoted (409)."
        ),
        request=InputSerializer,
        responses={200: MemberOutputSerializer, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def patch(self, request: Request, user_id: str) -> Response:
        ctx = org_context(request)
        ctx.require(Action.MEMBER_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_role_change(
            ctx=ctx, user_id=_member_id(user_id), role=Role(serializer.validated_data["role"])
        )
        return Response(MemberOutputSerializer(membership).data)

    @extend_schema(
        tags=MEMBER_TAG,
        summary="Remove a member",
        description=(
            "Owners and admins; only owners remove owners, and never the last one (409). "
            "The keys the member created stay with the organization."
        ),
        responses={204: None, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def delete(self, request: Request, user_id: str) -> Response:
        services.membership_remove(ctx=org_context(request), user_id=_member_id(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationOutputSerializer(serializers.ModelSerializer[Invitation]):
    invited_by = serializers.EmailField(source="invited_by.email", default=None)
    status = serializers.ChoiceField(choices=["pending", "expired", "accepted", "revoked"])

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at"]


class InvitationCollectionApi(APIView):
    required_scopes = {"*": ORG_ADMIN}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=ROLES, default=Role.MEMBER.value)

    @extend_schema(
        tags=INVITATION_TAG,
        summary="Open invitations",
        description="Invitations neither accepted nor withdrawn, newest first (owners and admins).",
        parameters=CURSOR_PARAMETERS,
        responses={
            200: cursor_page(InvitationOutputSerializer, "InvitationPage"),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response:
        return paginated(self, request, invitations_open(ctx=org_context(request)), InvitationOutputSerializer)

    @extend_schema(
        tags=INVITATION_TAG,
        summary="Invite someone by email",
        description=(
            "Mails a link with a single-use token that expires; only the account with this address "
            "can accept it. A pending invitation to the same address is replaced. Only owners invite "
            "owners; a personal organization has no other members (409)."
        ),
        request=InputSerializer,
        responses={201: InvitationOutputSerializer, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        ctx = org_context(request)
        ctx.require(Action.MEMBER_MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invitation = services.invitation_create(ctx=ctx, email=data["email"], role=Role(data["role"]))
        return Response(InvitationOutputSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationItemApi(APIView):
    required_scopes = {"*": ORG_ADMIN}

    @extend_schema(
        tags=INVITATION_TAG,
        summary="Withdraw an invitation",
        description="Idempotent; an accepted invitation cannot be withdrawn (409: remove the member instead).",
        responses={204: None, **error_responses(400, *AUTHENTICATED, 404, 409)},
    )
    def delete(self, request: Request, invitation_id: str) -> Response:
        invitation = _uuid(invitation_id, "invitation", "invitation_not_found")
        services.invitation_revoke(ctx=org_context(request), invitation_id=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptApi(APIView):
    required_scopes = {"*": SESSION_ONLY}

    class InputSerializer(serializers.Serializer[dict[str, str]]):
        token = serializers.CharField(max_length=200, help_text="The token from the invitation's link.")

    @extend_schema(
        tags=INVITATION_TAG,
        summary="Accept an invitation",
        description=(
            "Log in (or sign up) with the invited address first. Refused: unknown, used, withdrawn "
            "or expired tokens (400), another address (403), already a member (409)."
        ),
        request=InputSerializer,
        responses={200: MyOrganizationOutputSerializer, **error_responses(400, *AUTHENTICATED, 409)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.invitation_accept(user=request_user(request), token=serializer.validated_data["token"])
        return Response(MyOrganizationOutputSerializer(membership).data)
