"""Budget counters in Redis against request_logs (real PostgreSQL and Redis)."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from accounts.services import organization_create
from keys.services import key_issue
from usage.budgets import budgeted_scopes, redis_spent, spend_rebuild, spend_reconcile
from usage.models import RequestLog
from usage.rollups import deltas_insert


def _log(key, cost: str, when: datetime, n: int) -> None:
    log = RequestLog.objects.create(
        call_id=f"c-{n}-{time.time_ns()}",
        org_id=key.organization_id,
        key_id=key.id,
        model="tiny",
        prompt_tokens=1,
        completion_tokens=1,
        cost=Decimal(cost),
        latency_ms=1,
        status="success",
        stream=False,
        created_at=when,
    )
    # Written like the ingest writes: with its deltas, in its transaction.
    with connection.cursor() as cursor:
        cursor.execute(deltas_insert("(SELECT * FROM request_logs WHERE id = %s) AS one"), [log.id])


def test_rebuild_counts_the_current_period_only_and_reconcile_reports_drift(make_user, catalog, redis_client):
    alice = make_user("alice")
    org = organization_create(name="A", owner=alice)
    key = key_issue(organization=org, created_by=alice, name="k", limits={"budget_usd": Decimal("10")}).key
    key.budget_period = "daily"
    key.save()
    now = datetime.now(UTC)
    _log(key, "0.25", now, 1)
    _log(key, "0.50", now, 2)
    _log(key, "9.00", now - timedelta(days=3), 3)  # an earlier day: not in today's budget

    (scope,) = [s for s in budgeted_scopes() if s.scope == "key"]
    assert scope.spent_pg == Decimal("0.75")
    assert spend_rebuild() == 750_000_000
    assert redis_spent(scope) == 750_000_000

    _log(key, "0.10", now, 4)  # a settle Redis never saw
    report = spend_reconcile()
    assert report["corrected_nano"] == 100_000_000 and report["drift_nano"] == 100_000_000
    (scope,) = [s for s in budgeted_scopes() if s.scope == "key"]
    assert redis_spent(scope) == 850_000_000

    # Redis ahead of PostgreSQL (records still on their way to it): never lowered.
    from llmaas.redis_client import redis_keys

    redis_client.hincrby(redis_keys().budget("key", scope.scope_id, scope.period_id), "spent", 5)
    assert spend_rebuild() == 0
    assert redis_spent(scope) == 850_000_005
