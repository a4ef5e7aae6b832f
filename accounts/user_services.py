"""Accounts: sign-up, email verification, sign-in with throttling, passwords, profile, and the
operators' approve / deactivate. Each writes its audit entry in its own transaction.

Answers never reveal whether an address has an account: sign-up and password reset behave
(and answer) the same either way; the mail tells the address's owner what happened.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import TokenPurpose, User
from accounts.signals import user_admission_changed
from accounts.tasks import enqueue_on_commit, mail_already_registered, mail_password_reset, mail_verification
from accounts.throttle import (
    Counter,
    email_counters,
    login_clear_address,
    login_counters,
    login_release,
    login_reserve,
    throttle_check,
    throttle_hit,
)
from accounts.tokens import account_token_claim, account_token_peek
from audit.models import AuditAction
from audit.services import audit_record
from llmaas import request_meta
from llmaas.errors import ApplicationError, Conflict, Forbidden, Unauthorized


def _domain_allowed(email: str) -> bool:
    return email.rpartition("@")[2] in settings.ALLOWED_DOMAINS


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            "Choose a stronger password.", code="invalid_request", details={"password": list(exc.messages)}
        ) from None


def _throttle_mail(kind: str, email: str) -> None:
    counters = email_counters(kind=kind, email=email, ip=request_meta.current().ip)
    throttle_check(counters, message="Too many mails requested; try again later.", code="too_many_mails")
    throttle_hit(counters)


def user_sign_up(*, email: str, password: str, name: str = "") -> None:
    """Create a pending account and mail a verification link; an address that already has an
    account gets a mail saying so, and the caller cannot tell the difference.

    Addresses at ``ALLOWED_DOMAINS`` are approved at once; others wait for an operator.
    """
    if not settings.SIGNUP_ENABLED:
        raise Forbidden("Sign-up is closed here; ask an operator for an account.", code="signup_disabled")
    email = email.strip().lower()
    _check_password(password, User(email=email, name=name))
    _throttle_mail("signup", email)
    existing = User.objects.filter(email=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                _create_signed_up(email, password, name)
            return
        except IntegrityError:  # a concurrent sign-up with the same address won
            existing = User.objects.filter(email=email).first()
    make_password(password)  # the same work as a real sign-up, so timing tells nothing either
    if existing is not None:
        enqueue_on_commit(mail_already_registered, str(existing.pk))


def _create_signed_up(email: str, password: str, name: str) -> User:
    approved = _domain_allowed(email)
    user = User.objects.create_user(email, password, name=name, approved=approved, verified=False)
    audit_record(action=AuditAction.SIGN_UP, actor=user, target=user, details={"approved": approved})
    enqueue_on_commit(mail_verification, str(user.pk))
    return user


def email_verification_resend(*, user: User) -> None:
    """Mail a fresh verification link (the earlier ones stop working)."""
    if user.email_verified:
        raise Conflict("Your email address is already verified.", code="email_already_verified")
    _throttle_mail("verify", user.email)
    enqueue_on_commit(mail_verification, str(user.pk))


def email_mark_verified(user: User) -> None:
    """The user has shown they read mail at their address (verification link, reset, invitation)."""
    if User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=timezone.now()):
        user.refresh_from_db(fields=["email_verified_at"])
        audit_record(action=AuditAction.EMAIL_VERIFIED, actor=user, target=user)


def email_verify(*, token: str) -> User:
    """Use a verification link (once, before it expires)."""
    with transaction.atomic():
        claimed = account_token_claim(token=token, purpose=TokenPurpose.VERIFY_EMAIL)
        email_mark_verified(claimed.user)
    return claimed.user


def user_log_in(*, request: HttpRequest, email: str, password: str) -> User:
    """Check the password and start a session, unless this client address is throttled (for
    every account, or for this one, or because this account is under attack and this address
    already failed on it).

    While throttled, the password is not even checked (429). The attempt is counted before the
    password is checked (per address, per (account, address), per account), so parallel
    requests cannot outrun the count; failures from elsewhere never lock the owner out of a
    clean address. A success gives its place back and clears only the account's count from this
    address, never the address's own count, so an attacker cannot unlock themselves by logging
    in to an account of their own.
    """
    email = email.strip().lower()
    counters = login_counters(email=email, ip=request_meta.current().ip)
    reached = login_reserve(counters, message="Too many failed sign-ins; try again later.")
    user = authenticate(request, email=email, password=password)
    if not isinstance(user, User):
        _record_failure(email, reached)
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    login_release(counters)
    login(request, user)
    audit_record(action=AuditAction.SIGN_IN, actor=user, target=user)
    return user


def _record_failure(email: str, locked: list[Counter]) -> None:
    """Audit a failed password (already counted by ``login_reserve``), and the limits it reached."""
    known = User.objects.filter(email=email).first()
    audit_record(action=AuditAction.SIGN_IN_FAILED, target=known, details={"email": email})
    if locked:
        audit_record(
            action=AuditAction.SIGN_IN_LOCKED,
            target=known,
            details={"email": email, "scopes": [c.scope for c in locked], "window_seconds": locked[0].window},
        )


def user_log_out(*, request: HttpRequest) -> None:
    user = request.user
    if isinstance(user, User):
        audit_record(action=AuditAction.SIGN_OUT, actor=user, target=user)
    logout(request)


def password_reset_request(*, email: str) -> None:
    """Mail a reset link if the address has an active account. The request does the same work
    either way (the worker looks the address up), so neither answer nor timing tells."""
    email = email.strip().lower()
    _throttle_mail("reset", email)
    meta = request_meta.current()
    enqueue_on_commit(mail_password_reset, email, meta.ip, meta.user_agent)


def password_reset_confirm(*, token: str, password: str) -> User:
    """Set a new password with a reset link: every session of the account ends, the failed
    sign-in count of the account is cleared, and the address counts as verified."""
    user = account_token_peek(token=token, purpose=TokenPurpose.RESET_PASSWORD).user
    _check_password(password, user)  # before the claim: a weak password does not burn the link
    with transaction.atomic():
        user = account_token_claim(token=token, purpose=TokenPurpose.RESET_PASSWORD).user
        user.set_password(password)  # changes the session hash: other sessions end
        user.save(update_fields=["password"])
        email_mark_verified(user)
        audit_record(action=AuditAction.PASSWORD_RESET, actor=user, target=user)
    # The owner, back with a new password, signs in from where they failed with the old one.
    login_clear_address(email=user.email, ip=request_meta.current().ip)
    return user


def user_password_change(*, request: HttpRequest, user: User, current_password: str, new_password: str) -> None:
    """Change one's password (the current one is required, and its failures count like sign-in
    failures); this session stays, the others end."""
    counters = login_counters(email=user.email, ip=request_meta.current().ip)
    reached = login_reserve(counters, message="Too many wrong passwords; try again later.")
    if not user.check_password(current_password):
        _record_failure(user.email, reached)
        raise ApplicationError("The current password is wrong.", code="wrong_password")
    login_release(counters)
    _check_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(action=AuditAction.PASSWORD_CHANGED, actor=user, target=user)
    update_session_auth_hash(request, user)


def user_profile_update(*, user: User, name: str) -> User:
    with transaction.atomic():
        if user.name != name:
            audit_record(action=AuditAction.PROFILE_CHANGED, actor=user, target=user, details={"name": name})
            user.name = name
            user.save(update_fields=["name"])
    return user


# --- operators -----------------------------------------------------------------------------------
def _republish_personal_keys(user: User) -> None:
    """The proxy admits personal-organization keys only while their owner is active and approved
    (the keys app republishes them on this signal)."""
    user_admission_changed.send(sender=User, user=user)


def user_approve(*, user: User, by: User | None) -> bool:
    """Approve a pending account (idempotent): its personal keys start working."""
    with transaction.atomic():
        now = timezone.now()
        if not User.objects.filter(pk=user.pk, approved_at__isnull=True).update(approved_at=now, approved_by=by):
            return False
        user.approved_at, user.approved_by = now, by
        audit_record(action=AuditAction.USER_APPROVED, actor=by, target=user, details={"email": user.email})
        _republish_personal_keys(user)
    return True


def user_set_active(*, user: User, active: bool, by: User | None) -> bool:
    """Deactivate (or reactivate) an account, idempotently. A deactivated user cannot log in,
    their sessions end, and the keys of their personal organization stop working at the proxy
    within about a second; organization keys they created stay with the organization."""
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active):
            user.is_active = active
            return False
        user.is_active = active
        action = AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED
        audit_record(action=action, actor=by, target=user, details={"email": user.email})
        _republish_personal_keys(user)
    return True
