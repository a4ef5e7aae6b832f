import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import OpClass
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone as dj_timezone

from accounts.roles import Role
from llmaas.limits import Limits


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone: {value!r} (use an IANA name such as Europe/Paris).") from None


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(
        self, email: str, password: str | None, *, approved: bool = True, verified: bool = True, **fields: object
    ) -> "User":
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        return self.add(user, approved=approved, verified=verified)

    def add(
        self, user: "User", *, approved: bool = True, verified: bool = True, approved_by: "User | None" = None
    ) -> "User":
        """Save a new user with their personal organization. Accounts made by an operator, a
        management command or a test are approved and verified; sign-ups
        (``accounts.user_services.user_sign_up``) say otherwise."""
        now = dj_timezone.now()
        if approved:
            user.approved_at, user.approved_by = now, approved_by
        if verified:
            user.email_verified_at = now
        with transaction.atomic():
            user.save(using=self._db)
            Organization.objects.create_personal(user=user)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with an email address; owns a personal organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Operators: may log in to the admin site.")
    date_joined = models.DateTimeField(default=dj_timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the address is not verified.")
    approved_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: waiting for an operator's approval (no keys until then)."
    )
    approved_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Empty: ALLOWED_DOMAINS."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        indexes = [
            # The admin's search is an email prefix (LIKE 'x%'), whatever the database collation.
            models.Index(fields=["email"], name="user_email_prefix", opclasses=["varchar_pattern_ops"]),
            # The operators' queues: pending approval, deactivated.
            models.Index(fields=["email"], name="user_pending", condition=Q(approved_at__isnull=True)),
            models.Index(fields=["email"], name="user_inactive", condition=Q(is_active=False)),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def keys_admitted(self) -> bool:
        """Whether the proxy admits the keys of this user's personal organization."""
        return self.is_active and self.is_approved

    @property
    def account_status(self) -> str:
        """``pending_approval`` (an operator must approve), ``pending_verification`` (the email
        link must be followed) or ``active``; a deactivated user cannot log in at all."""
        if not self.is_approved:
            return "pending_approval"
        if not self.email_verified and settings.REQUIRE_VERIFIED_EMAIL:
            return "pending_verification"
        return "active"


class OrganizationManager(models.Manager["Organization"]):
    def create_personal(self, *, user: User) -> "Organization":
        """The user's personal organization, with the user as its owner."""
        with transaction.atomic():
            org = self.create(name=f"{user.email} (personal)", personal_for=user)
            Membership.objects.create(organization=org, user=user, role=Role.OWNER)
        return org


class Organization(Limits):
    """The tenant: keys, usage and budgets belong to an organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    # Set for a user's personal organization (exactly one per user).
    personal_for = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_organization"
    )
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], help_text="Budget periods reset at its midnight."
    )
    allowed_models = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, help_text="Empty: every model."
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = OrganizationManager()

    class Meta:
        indexes = [
            # The admin's search: a case-insensitive name prefix (UPPER(name) LIKE 'X%').
            models.Index(OpClass(Upper("name"), name="varchar_pattern_ops"), name="org_name_prefix"),
            models.Index(fields=["-created_at"], name="org_created"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None


ROLE_CHOICES = [(r.value, r.value) for r in Role]


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]
        indexes = [models.Index(fields=["organization", "created_at"], name="membership_org_created")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def clean(self) -> None:
        org = self.organization
        if org.personal_for_id is not None and self.user_id != org.personal_for_id:
            raise ValidationError("A personal organization has no other members.")
        if org.personal_for_id is not None and self.role != Role.OWNER:
            raise ValidationError("The owner of a personal organization stays its owner.")


class Invitation(models.Model):
    """An invitation to join an organization with a role, sent by email.

    Only the SHA-256 of its token is stored; it expires, is used once, and is accepted only
    by the user whose email it was sent to.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="invitation_org_created")]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization_id} as {self.role}"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= dj_timezone.now():
            return "expired"
        return "pending"


class TokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


class AccountToken(models.Model):
    """A one-time token mailed to a user (email verification, password reset): only its SHA-256
    is stored; it expires and is used once (a conditional UPDATE claims it)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_tokens")
    purpose = models.CharField(max_length=16, choices=TokenPurpose.choices)
    email = models.EmailField(help_text="The address it was sent to: a token proves only that mailbox.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="account_token_user")]

    def __str__(self) -> str:
        return f"{self.purpose} for {self.user_id}"
