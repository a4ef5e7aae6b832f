"""The prepaid wallet inside the admission script (real Redis): exact under concurrency, charged
as calls settle, the ledger posted from request_logs, rebuilt from PostgreSQL after Redis lost it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from billing.ledger import usage_post
from billing.models import BillingAccount, EntryKind, LedgerEntry, Plan, RedemptionCode
from billing.selectors import balance_get
from billing.services import code_redeem, plan_set
from billing.wallet import wallet_state, wallet_sync, wallets_rebuild
from inference.proxy.admission import Admission, Admitted, InsufficientBalance, wallet_charge, worst_case
from inference.proxy.contract import NANO_PER_USD, CatalogModel, RedisKeys
from inference.proxy.redis_conn import async_redis
from keys.publishing import key_snapshot
from usage.models import RequestLog
from usage.tests.factories import ingest, record

BETA = CatalogModel("beta", "beta", 4096, "1.5", "2.5", max_output_tokens=2048)  # usage.tests.factories' prices
BODY = {"model": "beta", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 2000}
PATH = "/v1/chat/completions"


@pytest.fixture
def prepaid(team, django_capture_on_commit_callbacks):
    """Org A on the prepaid plan with one cent of credit (a redemption code)."""
    RedemptionCode.objects.create(code="CENT", amount=Decimal("0.01"), max_uses=5)
    with django_capture_on_commit_callbacks(execute=True):
        plan_set(organization=team.org, plan=Plan.PREPAID)
        code_redeem(organization=team.org, code="cent", by=team.people["alice"])
    return team


async def _reserve_many(n: int, snapshot: Any) -> list[Any]:
    client = async_redis(settings.REDIS_URL, 2)
    try:
        admission = Admission(client, RedisKeys(settings.REDIS_PREFIX), reservation_ttl=30)
        worst = worst_case(BODY, BETA, PATH)
        return list(await asyncio.gather(*(admission.reserve(snapshot, BETA, worst) for _ in range(n))))
    finally:
        await client.aclose()


async def _settle(admitted: Admitted, prompt: int, completion: int) -> None:
    client = async_redis(settings.REDIS_URL, 2)
    try:
        await Admission(client, RedisKeys(settings.REDIS_PREFIX), 30).settle(admitted.metadata(), prompt, completion)
    finally:
        await client.aclose()


def test_it_admits_at_most_one_of_20_concurrent_calls_on_one_cent(db, prepaid, django_capture_on_commit_callbacks):
    team = prepaid
    reservation = worst_case(BODY, BETA, PATH).cost(1500, 2500)  # nano-USD at beta's prices
    assert 5_000_000 < reservation < 10_000_000  # one fits in a cent, two do not
    snapshot = key_snapshot(team.key)
    assert snapshot is not None
    outcomes = asyncio.run(_reserve_many(20, snapshot))
    admitted = [o for o in outcomes if isinstance(o, Admitted)]
    refused = [o for o in outcomes if isinstance(o, InsufficientBalance)]
    assert len(admitted) == 1 and len(refused) == 19
    assert "Insufficient balance" in refused[0].message() and refused[0].needed > refused[0].available
    state = wallet_state(team.org.id)
    assert state is not None
    assert state["credit"] - state["spent"] - state["reserved"] >= 0  # never below zero, let alone -(one reservation)

    asyncio.run(_settle(admitted[0], 20, 300))
    charged = wallet_charge(20 * 1500 + 300 * 2500, 1_000_000)
    assert wallet_state(team.org.id) == {"credit": 10_000_000, "spent": charged, "reserved": 0, "mult_ppm": 1_000_000}

    # The call's record reaches request_logs; beat posts it to the ledger.
    ingest(
        [record(team.org.id, team.key.id, team.key.created_at, model="beta", prompt_tokens=20, completion_tokens=300)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_post() == 1
        assert usage_post() == 0  # idempotent
    logged = sum(r.cost for r in RequestLog.objects.filter(org_id=team.org.id))
    usage = LedgerEntry.objects.get(organization=team.org, kind=EntryKind.USAGE)
    assert usage.amount == -logged and usage.list_cost == logged
    assert balance_get(organization=team.org) == Decimal("0.01") - logged
    assert balance_get(organization=team.org) >= -Decimal(reservation) / NANO_PER_USD
    assert Decimal(charged) / NANO_PER_USD == logged  # Redis charged what the ledger posts


def test_the_multiplier_prices_the_reservation_and_the_charge(db, prepaid, django_capture_on_commit_callbacks):
    team = prepaid
    with django_capture_on_commit_callbacks(execute=True):
        BillingAccount.objects.filter(organization=team.org).update(price_multiplier=Decimal("2"))
        wallet_sync(team.org.id)
    snapshot = key_snapshot(team.key)
    # At twice the list price one reservation (~$0.0052 × 2) no longer fits in a cent.
    outcome = asyncio.run(_reserve_many(1, snapshot))[0]
    assert isinstance(outcome, InsufficientBalance)
    small = {**BODY, "max_tokens": 100}
    client_body_worst = worst_case(small, BETA, PATH)

    async def one() -> Any:
        client = async_redis(settings.REDIS_URL, 2)
        try:
            admission = Admission(client, RedisKeys(settings.REDIS_PREFIX), 30)
            return await admission.reserve(snapshot, BETA, client_body_worst)
        finally:
            await client.aclose()

    admitted = asyncio.run(one())
    assert isinstance(admitted, Admitted) and admitted.wallet_mult_ppm == 2_000_000
    asyncio.run(_settle(admitted, 10, 50))
    state = wallet_state(team.org.id)
    assert state is not None and state["spent"] == 2 * (10 * 1500 + 50 * 2500)
    ingest(
        [record(team.org.id, team.key.id, team.key.created_at, model="beta", prompt_tokens=10, completion_tokens=50)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        usage_post()
    usage = LedgerEntry.objects.get(organization=team.org, kind=EntryKind.USAGE)
    assert usage.amount == -2 * usage.list_cost


def test_the_wallet_is_rebuilt_from_postgresql_after_redis_lost_it(
    db, prepaid, redis_client, django_capture_on_commit_callbacks
):
    team = prepaid
    ingest(
        [
            record(
                team.org.id, team.key.id, team.key.created_at, model="beta", prompt_tokens=1000, completion_tokens=1000
            )
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        usage_post()
    spent = -LedgerEntry.objects.get(organization=team.org, kind=EntryKind.USAGE).amount
    redis_client.delete(RedisKeys(settings.REDIS_PREFIX).wallet(str(team.org.id)))
    assert wallet_state(team.org.id) is None
    assert wallets_rebuild() == 1
    state = wallet_state(team.org.id)
    assert state is not None
    assert (state["credit"], state["spent"]) == (10_000_000, int(spent * NANO_PER_USD))


def test_a_full_republish_rebuilds_the_wallets_before_the_epoch(db, prepaid, redis_client):
    from keys.publishing import snapshot_publish_all

    for name in redis_client.scan_iter(match=f"{settings.REDIS_PREFIX}:*"):  # Redis restarted empty
        redis_client.delete(name)
    assert wallet_state(prepaid.org.id) is None
    snapshot_publish_all()
    state = wallet_state(prepaid.org.id)
    assert state is not None and state["credit"] == 10_000_000
    assert redis_client.exists(RedisKeys(settings.REDIS_PREFIX).epoch)


def test_a_call_settled_after_its_reservation_expired_is_charged_to_the_wallet(db, prepaid):
    from usage.budgets import reservations_purge

    snapshot = key_snapshot(prepaid.key)
    worst = worst_case({**BODY, "max_tokens": 100}, BETA, PATH)

    async def reserve_briefly() -> Any:
        client = async_redis(settings.REDIS_URL, 2)
        try:
            return await Admission(client, RedisKeys(settings.REDIS_PREFIX), reservation_ttl=0.01).reserve(
                snapshot, BETA, worst
            )
        finally:
            await client.aclose()

    admitted = asyncio.run(reserve_briefly())
    assert isinstance(admitted, Admitted)
    asyncio.run(asyncio.sleep(0.05))
    assert reservations_purge() == 1  # the proxy's worker is gone: its hold is given back
    assert wallet_state(prepaid.org.id)["reserved"] == 0
    asyncio.run(_settle(admitted, 10, 50))  # the late settle still charges the call
    assert wallet_state(prepaid.org.id)["spent"] == 10 * 1500 + 50 * 2500
