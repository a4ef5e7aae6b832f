"""Mails of accounts, sent by the Celery worker after the commit: a slow or failing mail server
never holds up (or times) an answer, so answers cannot tell a registered address from another.

Tokens are made here, in the worker, and go only into the mail: no secret passes through the
broker or the request. A retry makes a fresh token (the earlier one stops working).
"""

import logging
import smtplib
import uuid
from typing import Any

from celery import shared_task
from django.db import transaction

from accounts import emails
from accounts.models import Invitation, TokenPurpose, User
from accounts.tokens import account_token_issue, new_token
from audit.models import AuditAction
from audit.services import audit_record
from llmaas import request_meta

log = logging.getLogger(__name__)
MAIL_ERRORS = (smtplib.SMTPException, OSError)


def enqueue_on_commit(task: Any, *args: str | None) -> None:
    """After commit, queue the mail; if the broker is unreachable, send it from here instead."""

    def enqueue() -> None:
        try:
            task.delay(*args)
        except Exception:
            log.warning("%s could not be queued; sending inline", task.name, exc_info=True)
            try:
                task(*args)
            except Exception as exc:  # noqa: BLE001 - logged; the change itself is committed
                log.error("%s failed: %s", task.name, type(exc).__name__)

    transaction.on_commit(enqueue)


def _active(user_id: str) -> User | None:
    return User.objects.filter(pk=uuid.UUID(user_id), is_active=True).first()


@shared_task(autoretry_for=MAIL_ERRORS, retry_backoff=True, retry_backoff_max=300, max_retries=8)
def mail_verification(user_id: str) -> None:
    """A fresh verification link for the user (unless verified meanwhile)."""
    user = _active(user_id)
    if user is None or user.email_verified:
        return
    token = account_token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    emails.send_verification(user, token)


@shared_task(autoretry_for=MAIL_ERRORS, retry_backoff=True, retry_backoff_max=300, max_retries=8)
def mail_already_registered(user_id: str) -> None:
    user = _active(user_id)
    if user is not None:
        emails.send_already_registered(user)


@shared_task(autoretry_for=MAIL_ERRORS, retry_backoff=True, retry_backoff_max=300, max_retries=8)
def mail_password_reset(email: str, ip: str | None = None, user_agent: str = "") -> None:
    """A reset link if the address has an active account; nothing otherwise (the caller was
    answered the same either way)."""
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        return
    with transaction.atomic():
        token = account_token_issue(user=user, purpose=TokenPurpose.RESET_PASSWORD)
        audit_record(
            action=AuditAction.PASSWORD_RESET_REQUESTED, target=user, meta=request_meta.RequestMeta(ip, user_agent)
        )
    emails.send_password_reset(user, token)


@shared_task(autoretry_for=MAIL_ERRORS, retry_backoff=True, retry_backoff_max=300, max_retries=8)
def mail_invitation(invitation_id: str) -> None:
    """The invitation's link, with a token made now (the one it was created with was never shown)."""
    invitation = (
        Invitation.objects.filter(pk=uuid.UUID(invitation_id), accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("organization", "invited_by")
        .first()
    )
    if invitation is None:
        return
    token, digest = new_token()
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=digest)
    emails.send_invitation(invitation, invitation.organization, invitation.invited_by, token)
