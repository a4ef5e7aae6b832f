"""Budget alerts and blocks (real PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from inference.proxy.admission import Admission, Admitted, Refusal
from inference.proxy.contract import CatalogModel
from inference.proxy.snapshots import async_redis
from keys.publishing import key_snapshot
from keys.services import key_update
from llmaas.redis_client import redis_keys
from usage.alerts import alert_email_send, check_budgets
from usage.models import BudgetAlert, Notification
from usage.tests.factories import ingest, record

MODEL = CatalogModel("alpha", "alpha", 4096, input_price_per_mtok="0.15", output_price_per_mtok="0.60")
BODY = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def spend(key, usd: str) -> None:
    """A call worth exactly ``usd`` (gamma: $0.01 per million prompt tokens)."""
    tokens = int(Decimal(usd) * 100_000_000)
    ingest(
        [record(key.organization_id, key.id, timezone.now(), model="gamma", prompt_tokens=tokens, completion_tokens=0)]
    )


def admit(key) -> Admitted | Refusal:
    key.refresh_from_db()
    snapshot = key_snapshot(key)
    assert snapshot is not None

    async def main():
        from django.conf import settings

        client = async_redis(settings.REDIS_URL, 2)
        try:
            return await Admission(client, redis_keys(), 60).admit(snapshot, MODEL, BODY, "/v1/chat/completions")
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.fixture
def budgeted(team):
    key = team.keys["dave"]
    return key_update(key=key, changes={"budget_usd": Decimal("1.00"), "budget_period": "monthly"})


def test_the_90_percent_alert_fires_once_per_scope_and_period(team, budgeted, django_capture_on_commit_callbacks):
    spend(budgeted, "0.50")
    assert check_budgets().alerts == 0
    spend(budgeted, "0.42")
    with django_capture_on_commit_callbacks(execute=True):
        assert check_budgets().alerts == 1
        assert check_budgets().alerts == 0  # the next tick finds it recorded
    alert = BudgetAlert.objects.get()
    assert (alert.scope, alert.threshold, alert.spent_nano) == ("key", 90, 920_000_000)
    # Owners, admins and the key's creator; not the viewer or billing.
    recipients = set(Notification.objects.values_list("recipient__email", flat=True))
    assert recipients == {team.people[n].email for n in ("alice", "frank", "dave")}
    assert len(mail.outbox) == 1 and set(mail.outbox[0].to) == recipients
    assert "90%" in mail.outbox[0].subject and "$0.92" in mail.outbox[0].body
    assert alert_email_send(alert_id=alert.id) == 0  # already emailed


def test_two_racing_checks_alert_once(transactional_db, team, budgeted):
    spend(budgeted, "0.95")
    barrier, results = threading.Barrier(2), []

    def tick():
        try:
            barrier.wait()
            results.append(check_budgets().alerts)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1]
    assert BudgetAlert.objects.count() == 1
    assert Notification.objects.count() == 3 and len(mail.outbox) == 1


def test_at_100_percent_the_next_call_is_refused_and_raising_the_budget_lifts_it(team, budgeted, redis_client):
    assert isinstance(admit(budgeted), Admitted)
    spend(budgeted, "1.00")  # recorded by PostgreSQL only: Redis never saw these calls settle
    redis_client.delete(*redis_client.scan_iter(match=redis_keys().budget("*", "key", "*", "*")))
    check = check_budgets()
    assert check.blocked == 1 and check.alerts == 1
    assert BudgetAlert.objects.filter(threshold=100).exists() and BudgetAlert.objects.filter(threshold=90).exists()
    assert Notification.objects.filter(title__startswith="Budget exhausted").count() == 3
    refused = admit(budgeted)
    assert isinstance(refused, Refusal) and refused.kind == "budget" and refused.scope == "key"

    key_update(key=budgeted, changes={"budget_usd": Decimal("5.00")})
    assert isinstance(admit(budgeted), Admitted)
    spend(budgeted, "3.60")
    assert check_budgets().alerts == 1  # a new budget alerts again, at its own 90 %


def test_a_failed_email_is_sent_by_the_retry(team, budgeted, settings):
    spend(budgeted, "0.95")
    check_budgets()
    alert = BudgetAlert.objects.get()
    settings.EMAIL_BACKEND = "usage.tests.test_alerts.RefusingBackend"
    with pytest.raises(ConnectionRefusedError):
        alert_email_send(alert_id=alert.id)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert alert_email_send(alert_id=alert.id) == 3
    assert BudgetAlert.objects.get().emailed_at is not None


class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")
