from django.urls import path

from accounts import organization_apis as apis

# /api/organization itself, and below it (/api/organization/…): the current organization, as
# the LLMaaS-Organization header says.
organization_urlpatterns = [path("", apis.OrganizationApi.as_view(), name="organization")]
urlpatterns = [
    path("transfer", apis.OrganizationTransferApi.as_view(), name="organization-transfer"),
    path("leave", apis.OrganizationLeaveApi.as_view(), name="organization-leave"),
    path("members", apis.MemberCollectionApi.as_view(), name="members"),
    path("members/<str:user_id>", apis.MemberItemApi.as_view(), name="member"),
    path("invitations", apis.InvitationCollectionApi.as_view(), name="invitations"),
    path("invitations/<str:invitation_id>", apis.InvitationItemApi.as_view(), name="invitation"),
]

organizations_urlpatterns = [path("", apis.OrganizationCollectionApi.as_view(), name="organizations")]
invitations_urlpatterns = [path("accept", apis.InvitationAcceptApi.as_view(), name="invitation-accept")]
