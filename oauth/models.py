"""What LLMaaS adds to django-oauth-toolkit's own models (which stay as shipped).

- `OAuthApp`: a third-party application's owner organization and logo, one-to-one beside DOT's
  ``Application`` (the ARCHITECTURE's side table; DOT's models are never swapped).
- `InferenceKeyRequest`: what a user chose on the consent page when an app asked for the
  ``inference`` scope ("Sign in with LLMaaS" keys): organization, models, budget. It hangs on the
  authorization code and is fulfilled (the key issued, the secret handed to the app once) when
  the app exchanges that code; the secret is never stored.
- `SsoIdentity` and `SsoGroupMapping`: enterprise SSO through an upstream OpenID provider.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from oauth2_provider.models import Application, Grant

from accounts.models import ROLE_CHOICES, Organization


class OAuthApp(models.Model):
    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, primary_key=True, related_name="llmaas_app"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="oauth_apps")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    logo_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "OAuth app ownership"
        indexes = [models.Index(fields=["organization", "created_at"], name="oauthapp_org_created")]

    def __str__(self) -> str:
        return f"{self.application.name} ({self.organization})"


class InferenceKeyRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    grant = models.OneToOneField(Grant, on_delete=models.CASCADE, related_name="inference_key_request")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    allowed_models = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    budget_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"key request {self.id}"


class SsoIdentity(models.Model):
    """An upstream provider's account (issuer + subject) linked to a local user."""

    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities")
    groups = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique")]
        verbose_name_plural = "SSO identities"

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class SsoGroupMapping(models.Model):
    """Members of an upstream group get this role in this organization (re-applied at each login)."""

    group = models.CharField(max_length=255)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sso_group_mappings")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "organization"], name="sso_group_mapping_unique")]

    def __str__(self) -> str:
        return f"{self.group} → {self.organization} ({self.role})"
