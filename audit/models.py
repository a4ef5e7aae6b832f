"""The audit trail: who did what, when, from where. Append-only.

Ids are plain columns, not foreign keys: the trail outlives the users, organizations and
keys it talks about (an organization's deletion is itself an entry), and an actor's email is
kept as it was at the time.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditAction(models.TextChoices):
    """Stable codes: clients filter on them; add new ones, never rename."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_IN_LOCKED = "auth.sign_in_locked"  # failures reached the throttle's limit
    SIGN_OUT = "auth.sign_out"
    SIGN_UP = "auth.sign_up"
    EMAIL_VERIFIED = "auth.email_verified"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"  # noqa: S105 - an action code
    PASSWORD_RESET = "auth.password_reset"  # noqa: S105
    PASSWORD_CHANGED = "auth.password_changed"  # noqa: S105
    PROFILE_CHANGED = "auth.profile_changed"
    USER_APPROVED = "user.approved"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    ORG_CREATED = "org.created"
    ORG_RENAMED = "org.renamed"
    ORG_DELETED = "org.deleted"
    ORG_OWNERSHIP_TRANSFERRED = "org.ownership_transferred"
    LIMITS_CHANGED = "limits.changed"
    MEMBER_INVITED = "member.invited"
    INVITATION_REVOKED = "member.invitation_revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    KEY_CREATED = "key.created"
    KEY_CHANGED = "key.changed"
    KEY_ROTATED = "key.rotated"
    KEY_REVOKED = "key.revoked"
    OAUTH_APP_CREATED = "oauth_app.created"
    OAUTH_APP_CHANGED = "oauth_app.changed"
    OAUTH_APP_SECRET_ROTATED = "oauth_app.secret_rotated"  # noqa: S105 - an action code
    OAUTH_APP_DELETED = "oauth_app.deleted"
    OAUTH_GRANT_REVOKED = "oauth.grant_revoked"  # a user took back what they had allowed an app
    ADMIN_ADDED = "admin.added"  # an operator's add/change/delete in the admin site
    ADMIN_CHANGED = "admin.changed"
    ADMIN_DELETED = "admin.deleted"
    BILLING_PLAN_CHANGED = "billing.plan_changed"
    BILLING_TOPUP_STARTED = "billing.topup_started"  # a Checkout session was opened
    BILLING_CREDITED = "billing.credited"  # a top-up, refund or adjustment reached the ledger
    BILLING_CODE_REDEEMED = "billing.code_redeemed"
    BILLING_SUBSCRIPTION_CHANGED = "billing.subscription_changed"


class AuditEvent(models.Model):
    org_id = models.UUIDField(null=True, blank=True, help_text="Empty: an event of no organization (sign-in).")
    actor_id = models.UUIDField(null=True, blank=True, help_text="Empty: anonymous (a failed sign-in) or the system.")
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["org_id", "-created_at", "-id"], name="audit_org_time"),
            models.Index(fields=["-created_at", "-id"], name="audit_time"),
            models.Index(fields=["action", "-created_at", "-id"], name="audit_action_time"),
            models.Index(fields=["actor_id", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["target_id"], name="audit_target", condition=~Q(target_id="")),
            models.Index(fields=["actor_email"], name="audit_actor_email", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_email or '-'}"
