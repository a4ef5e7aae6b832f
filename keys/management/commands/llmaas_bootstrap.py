"""First-start setup of a local stack: the local model, an admin login, a demo org and demo key
(in the keys app: it uses accounts, the catalog and keys, all below it).

Idempotent. The secrets live in a git-ignored state file readable only by its owner (like a
notebook server's token); this dev convenience is the only place a key's secret is stored.
"""

import json
import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Organization, User
from accounts.services import organization_create
from inference.models import ModelDeployment
from inference.services import deployment_set
from keys.models import ApiKey
from keys.services import key_issue

DEMO_ORG = "Demo"


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    tmp.replace(path)


class Command(BaseCommand):
    help = "Create the local model entry, admin login, demo organization and demo key if missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state-file", required=True)
        parser.add_argument("--admin-email", default="admin@llmaas.local")
        parser.add_argument("--model-name", default="smollm2")
        parser.add_argument("--upstream-model", default="smollm2-135m-instruct")
        parser.add_argument("--context-window", type=int, default=2048)

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["state_file"])
        state = _read(path)
        with transaction.atomic():
            if not ModelDeployment.objects.filter(name=opts["model_name"]).exists():
                deployment_set(
                    name=opts["model_name"],
                    backend_url=settings.LOCAL_MODEL_URL,
                    backend_kind="llamacpp",
                    upstream_model=opts["upstream_model"],
                    context_window=opts["context_window"],
                    input_price_per_mtok=Decimal("0.10"),
                    output_price_per_mtok=Decimal("0.20"),
                )
            admin = self._admin(state, opts["admin_email"])
            org = Organization.objects.filter(name=DEMO_ORG, memberships__user=admin).first()
            if org is None:
                org = organization_create(name=DEMO_ORG, owner=admin)
                # A small monthly budget, so that the demo key shows limits at work.
                org.budget_usd, org.budget_period, org.rpm = Decimal("5"), "monthly", 120
                org.save(update_fields=["budget_usd", "budget_period", "rpm"])
            key_id = state.get("demo_key_id")
            alive = key_id and ApiKey.objects.filter(pk=key_id, organization=org, revoked_at__isnull=True).exists()
            if not alive or not state.get("demo_key"):
                issued = key_issue(organization=org, created_by=admin, name="demo key")
                state["demo_key"], state["demo_key_id"] = issued.secret, str(issued.key.id)
            state["demo_org_id"] = str(org.id)
        _write(path, state)
        self.stdout.write(json.dumps({k: state[k] for k in ("admin_email", "demo_org_id", "demo_key_id")}))

    def _admin(self, state: dict[str, Any], email: str) -> User:
        email = state.get("admin_email", email)
        password = state.get("admin_password") or secrets.token_urlsafe(12)
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_superuser(email=email, password=password)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        state["admin_email"], state["admin_password"] = email, password
        return user
