"""Celery tasks of the authorization server: thin wrappers around its services."""

from celery import shared_task

from oauth.cleanup import oauth_rows_expire


@shared_task(ignore_result=True)
def oauth_expire() -> dict[str, int]:
    """Beat: expired grants and tokens leave the database."""
    return oauth_rows_expire()
