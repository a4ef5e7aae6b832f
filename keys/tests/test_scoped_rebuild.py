"""A limit change rebuilds only the budgets it concerns, through the task queue (issue 14, item 8):
a member changing their key's budget must not make Django recount every budget of the platform
inside their request."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from accounts.services import organization_create
from inference.proxy.contract import budget_period
from keys.services import key_issue
from llmaas.redis_client import redis_keys
from usage import tasks
from usage.tests.factories import spend_logged


def _counter(scope: str, scope_id: object, org_id: object, tz: str = "UTC") -> str:
    period_id, _, _ = budget_period("monthly", tz, datetime.now(UTC))
    return redis_keys().budget(str(org_id), scope, str(scope_id), period_id)


def test_it_rebuilds_only_the_changed_keys_budget_through_the_queue(
    org_a, api, redis_client, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    org, p = org_a
    mine = key_issue(organization=org, created_by=p["dave"], name="mine").key
    theirs = key_issue(organization=org, created_by=p["alice"], name="theirs", limits={"budget_usd": Decimal(5)}).key
    elsewhere_owner = make_user("zed")
    elsewhere = organization_create(name="Elsewhere", owner=elsewhere_owner)
    foreign = key_issue(organization=elsewhere, created_by=elsewhere_owner, name="f", limits={"budget_usd": 5}).key
    for key in (mine, theirs, foreign):
        spend_logged(key, "0.5")
    for name in redis_client.scan_iter(match=f"{redis_keys().prefix}:budget:*"):
        redis_client.delete(name)  # as if Redis lost them: a full rebuild would write them all back

    queued: list[tuple[Any, ...]] = []
    original = tasks.spend_rebuild_scopes.apply_async

    def record(*args: Any, **kwargs: Any) -> Any:
        queued.append(tuple(kwargs.get("args") or (args[0] if args else ())))
        return original(*args, **kwargs)

    monkeypatch.setattr(tasks.spend_rebuild_scopes, "apply_async", record)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(p["dave"], org).patch(f"/api/keys/{mine.id}/", {"budget_usd": "2"}, format="json")
    assert response.status_code == 200, response.content

    assert int(redis_client.hget(_counter("key", mine.id, org.id), "spent") or 0) == 500_000_000
    for untouched in (_counter("key", theirs.id, org.id), _counter("key", foreign.id, foreign.organization_id)):
        assert not redis_client.exists(untouched)
    assert queued == [("key", str(mine.id))]  # through the queue, after the commit, for this key only


def test_it_rebuilds_only_the_organizations_own_budget_when_its_limits_change(
    org_a, api, redis_client, make_user, django_capture_on_commit_callbacks
):
    org, p = org_a
    key = key_issue(organization=org, created_by=p["alice"], name="k", limits={"budget_usd": Decimal(5)}).key
    other_owner = make_user("zed")
    other = organization_create(name="Other", owner=other_owner)
    other.budget_usd = Decimal(5)
    other.save(update_fields=["budget_usd"])
    other_key = key_issue(organization=other, created_by=other_owner, name="o").key
    spend_logged(key, "0.25")
    spend_logged(other_key, "0.25")
    for name in redis_client.scan_iter(match=f"{redis_keys().prefix}:budget:*"):
        redis_client.delete(name)

    with django_capture_on_commit_callbacks(execute=True):
        response = api(p["alice"], org).patch("/api/organization/limits", {"budget_usd": "3"}, format="json")
    assert response.status_code == 200, response.content
    assert int(redis_client.hget(_counter("org", org.id, org.id), "spent") or 0) == 250_000_000
    assert not redis_client.exists(_counter("org", other.id, other.id))
    assert not redis_client.exists(_counter("key", key.id, org.id))  # the key's own budget did not change
