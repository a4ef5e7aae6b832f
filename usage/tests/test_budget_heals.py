"""The budget check follows PostgreSQL both ways: an overcount (a rollup that counted rows twice
until its next run) that blocked a budget is healed, not kept for the rest of the period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from inference.proxy.admission import Admitted, Refusal
from keys.services import key_update
from llmaas import redis_client as shared_redis
from llmaas.redis_client import redis_keys
from usage.alerts import check_budgets
from usage.budgets import ScopeSpend, raise_spent
from usage.partitions import month_start
from usage.rollups import aggregate_usage
from usage.summary import floor
from usage.tests.factories import ingest, record
from usage.tests.test_alerts import admit, spend


@pytest.fixture
def budgeted(team):
    return key_update(key=team.keys["dave"], changes={"budget_usd": Decimal("1.00"), "budget_period": "monthly"})


def scale_rollups(org_id, factor: int | float) -> None:
    with connection.cursor() as cursor:
        for table in ("usage_hourly", "usage_daily", "monthly_usage"):
            cursor.execute(f"UPDATE {table} SET cost = cost * %s WHERE org_id = %s", [factor, org_id])


def budget_name(key):
    pattern = redis_keys().budget(str(key.organization_id), "key", str(key.id), "*")
    (name,) = shared_redis.redis_client().scan_iter(match=pattern)  # every node of a cluster (KEYS asks one)
    return name


def budget_hash(key):
    return shared_redis.redis_client().hgetall(budget_name(key))


def spend_last_hour(key, usd: str) -> None:
    """A call worth ``usd`` in the previous hour (a whole hour the rollups hold)."""
    when = floor(timezone.now() - timedelta(hours=1), "hour") + timedelta(minutes=1)
    if when < month_start(timezone.now()):
        pytest.skip("the first hour of a month has no earlier hour in the budget period")
    tokens = int(Decimal(usd) * 100_000_000)  # gamma: $0.01 per million prompt tokens
    ingest([record(key.organization_id, key.id, when, model="gamma", prompt_tokens=tokens, completion_tokens=0)])


def test_a_budget_blocked_by_an_overcount_is_unblocked_and_lowered_when_postgresql_heals(budgeted):
    spend_last_hour(budgeted, "0.60")
    aggregate_usage()
    scale_rollups(budgeted.organization_id, 2)  # the double count: PostgreSQL says $1.20 of $1.00
    assert check_budgets().blocked == 1
    assert isinstance(admit(budgeted), Refusal)
    assert int(budget_hash(budgeted)[b"spent"]) == 1_200_000_000

    scale_rollups(budgeted.organization_id, Decimal("0.5"))  # the next aggregation's recompute
    assert check_budgets().blocked == 0
    state = budget_hash(budgeted)
    assert b"blocked" not in state
    assert int(state[b"spent"]) == 600_000_000
    assert isinstance(admit(budgeted), Admitted)


def test_spend_the_proxy_settled_is_kept_when_postgresql_counts_less(budgeted):
    """Redis may count calls whose records are still on their way: the check never lowers
    Redis below what the proxy itself settled, only takes back its own earlier corrections."""
    spend(budgeted, "0.30")
    check_budgets()
    name = budget_name(budgeted)
    shared_redis.redis_client().hincrby(name, "spent", 500_000_000)  # the proxy settled $0.50 not yet in PostgreSQL
    check_budgets()
    assert int(shared_redis.redis_client().hget(name, "spent")) == 800_000_000


def test_spend_past_10_to_the_17_nano_dollars_stays_an_integer_the_proxy_can_add_to(redis_client):
    """redis.call writes a Lua number as %.17g: 2e+17, which HINCRBY (the proxy's settle) refuses."""
    scope = ScopeSpend("key", "k-1", "m202612", None, None, Decimal("1000000000"), Decimal("200000000"), "o-1")
    raise_spent(scope)
    name = redis_keys().budget("o-1", "key", "k-1", "m202612")
    assert redis_client.hget(name, "spent") == b"200000000000000000"
    assert redis_client.hincrby(name, "spent", 1) == 200000000000000001


def test_a_stale_lower_figure_written_after_a_fresher_one_does_not_lower_the_counter(budgeted):
    """The check computes every scope's figure first and writes them one by one; a rebuild on
    another worker may write a fresher figure in between. The older, lower figure is no proof of
    an overcount: written last, it must not take back the rebuild's correction."""
    from usage.budgets import budgeted_scopes, redis_spent, scopes_spend, spend_rebuild

    spend_last_hour(budgeted, "0.30")
    stale = budgeted_scopes()  # the check's figures: $0.30
    spend_last_hour(budgeted, "0.50")  # a call lands meanwhile
    spend_rebuild(scopes_spend([("key", str(budgeted.id))]))  # another worker's rebuild: $0.80
    (fresh,) = [s for s in budgeted_scopes() if s.scope == "key"]
    assert redis_spent(fresh) == 800_000_000
    spend_rebuild(stale)  # the check writes its older figure last
    assert redis_spent(fresh) == 800_000_000
    assert check_budgets().scopes >= 1 and redis_spent(fresh) == 800_000_000  # a fresh check agrees
