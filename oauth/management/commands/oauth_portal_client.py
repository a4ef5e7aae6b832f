from typing import Any

from django.core.management.base import BaseCommand

from oauth.services import portal_client_ensure


class Command(BaseCommand):
    help = "Create (or bring up to date) the portal's OAuth client: public, PKCE, first-party."

    def handle(self, *args: Any, **options: Any) -> None:
        app = portal_client_ensure()
        self.stdout.write(f"portal client {app.client_id}: redirect {app.redirect_uris}")
