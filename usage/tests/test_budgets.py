"""Budget counters in Redis against request_logs (real PostgreSQL and Redis)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.services import organization_create
from keys.services import key_issue
from usage.budgets import budgeted_scopes, redis_spent, spend_rebuild, spend_reconcile
from usage.tests.factories import spend_logged


def test_rebuild_counts_the_current_period_only_and_reconcile_reports_drift(make_user, catalog, redis_client):
    alice = make_user("alice")
    org = organization_create(name="A", owner=alice)
    key = key_issue(organization=org, created_by=alice, name="k", limits={"budget_usd": Decimal("10")}).key
    key.budget_period = "daily"
    key.save()
    now = datetime.now(UTC)
    spend_logged(key, "0.25", now)
    spend_logged(key, "0.50", now)
    spend_logged(key, "9.00", now - timedelta(days=3))  # an earlier day: not in today's budget

    (scope,) = [s for s in budgeted_scopes() if s.scope == "key"]
    assert scope.spent_pg == Decimal("0.75")
    assert spend_rebuild() == 750_000_000
    assert redis_spent(scope) == 750_000_000

    spend_logged(key, "0.10", now)  # a settle Redis never saw
    report = spend_reconcile()
    assert report["corrected_nano"] == 100_000_000 and report["drift_nano"] == 100_000_000
    (scope,) = [s for s in budgeted_scopes() if s.scope == "key"]
    assert redis_spent(scope) == 850_000_000

    # Redis ahead of PostgreSQL (records still on their way to it): never lowered.
    from llmaas.redis_client import redis_keys

    redis_client.hincrby(redis_keys().budget(scope.org_id, "key", scope.scope_id, scope.period_id), "spent", 5)
    assert spend_rebuild() == 0
    assert redis_spent(scope) == 850_000_005
