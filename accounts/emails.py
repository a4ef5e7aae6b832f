"""The mails accounts send (called by accounts/tasks.py, off the request path). Links point at
the portal (PUBLIC_URL), which posts the token to the API."""

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import Invitation, Organization, User


def _link(path: str, token: str) -> str:
    return f"{settings.PUBLIC_URL}{path}?{urlencode({'token': token})}"


def _send(to: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def _hours(seconds: int) -> str:
    return f"{seconds // 3600} hours" if seconds >= 7200 else f"{max(1, seconds // 60)} minutes"


def send_verification(user: User, token: str) -> None:
    _send(
        user.email,
        "Confirm your email address",
        f"Confirm your address to finish setting up your LLMaaS account:\n\n"
        f"{_link('/verify-email', token)}\n\n"
        f"The link works once, for {_hours(settings.EMAIL_VERIFICATION_TTL)}. "
        "If you did not sign up, ignore this mail.",
    )


def send_already_registered(user: User) -> None:
    """Someone signed up with an address that has an account: tell its owner, not the caller."""
    _send(
        user.email,
        "You already have an account",
        "Someone (perhaps you) tried to sign up with this address, which already has an LLMaaS account.\n\n"
        f"Log in at {settings.PUBLIC_URL}/login, or reset your password at {settings.PUBLIC_URL}/reset-password.",
    )


def send_password_reset(user: User, token: str) -> None:
    _send(
        user.email,
        "Reset your password",
        f"Choose a new password for your LLMaaS account:\n\n{_link('/reset-password', token)}\n\n"
        f"The link works once, for {_hours(settings.PASSWORD_RESET_TTL)}. "
        "If you did not ask for it, ignore this mail: your password stays as it is.",
    )


def send_invitation(invitation: Invitation, organization: Organization, inviter: User | None, token: str) -> None:
    who = (inviter.name or inviter.email) if inviter else "An administrator"
    _send(
        invitation.email,
        f"You are invited to {organization.name} on LLMaaS",
        f"{who} invites you to the organization {organization.name!r} "
        f"as {invitation.role}.\n\nAccept (sign up first with this address if you have no account):\n\n"
        f"{_link('/invitations/accept', token)}\n\n"
        f"The invitation works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.",
    )
