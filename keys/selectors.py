import uuid

from django.db.models import QuerySet

from accounts.context import OrgContext
from accounts.roles import Action
from keys.models import ApiKey
from llmaas.errors import Forbidden, NotFound


def keys_visible(*, ctx: OrgContext) -> QuerySet[ApiKey]:
    """The organization's keys this member may see: all for owners/admins, their own otherwise."""
    ctx.require(Action.KEY_LIST)
    queryset = ApiKey.objects.filter(organization=ctx.organization).select_related("created_by")
    if not ctx.allows(Action.KEY_MANAGE_ANY):
        queryset = queryset.filter(created_by=ctx.user)
    return queryset


def key_get(*, ctx: OrgContext, key_id: uuid.UUID, manage: bool = False) -> ApiKey:
    """The organization's key (404 for anything else); 403 if the role may not see or manage it."""
    key = ApiKey.objects.filter(organization=ctx.organization, pk=key_id).select_related("created_by").first()
    if key is None:
        raise NotFound("No such API key.", code="key_not_found")
    ctx.require(Action.KEY_MANAGE_OWN if manage else Action.KEY_LIST)
    if not ctx.allows(Action.KEY_MANAGE_ANY) and key.created_by_id != ctx.user.pk:
        raise Forbidden("Members see and manage only the keys they created.", code="not_key_creator")
    return key
