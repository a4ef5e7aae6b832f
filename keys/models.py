import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from llmaas.limits import Limits


class ApiKey(Limits):
    """A virtual key. Only the SHA-256 of its secret and a display prefix are stored.

    The id and the prefix are stable; rotation replaces the secret (keeping the prefix) and
    lets the previous one work until ``previous_secret_expires_at``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    # Keys outlive their creator: deleting the user keeps the org's key.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The secret's first characters, for display.")
    secret_hash = models.CharField(max_length=64, unique=True)
    allowed_models = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, help_text="Empty: every model."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    store_chats = models.BooleanField(default=False, help_text="Keep the messages and replies of its calls.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_secret_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    rotation_id = models.CharField(max_length=100, blank=True, help_text="Client id of the last rotation.")
    rotated_at = models.DateTimeField(null=True, blank=True)
    # A "Sign in with LLMaaS" key: issued to this OAuth application at the user's consent (the
    # user revokes it by revoking the app's grant, or like any key). Deleting the app revokes
    # its keys first (oauth.services), so the link is only ever cleared on dead keys.
    oauth_application = models.ForeignKey(
        "oauth2_provider.Application",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The OAuth application this key was issued to, if any.",
    )
    # The portal's playground key (keys.services.playground_key_issue): short-lived, budget-capped,
    # one live per user and organization (a new one revokes the previous).
    playground = models.BooleanField(default=False, help_text="Issued to the portal's playground.")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="apikey_org_created"),
            # Prefix search (LIKE 'sk-ab%') in any collation; also serves equality.
            models.Index(fields=["prefix"], name="apikey_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["-created_at", "-id"], name="apikey_created"),
            models.Index(fields=["revoked_at"], name="apikey_revoked_at"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
