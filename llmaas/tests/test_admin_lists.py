"""The operators' changelists at scale: 100k rows inserted in bulk, then the queries a page
really runs (captured) are EXPLAINed: no sequential scan of the big table; and the number of
queries per page does not grow with the rows shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.services import organization_create
from keys.models import ApiKey

ROWS = 100_000


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops@ops.test", password=None)


@pytest.fixture
def admin_client(operator):
    client = Client()
    client.force_login(operator)
    return client


def bulk(sql: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def plans_of(client: Client, url: str, table: str) -> list[tuple[str, str]]:
    """(query, plan) for every SELECT on ``table`` that the page runs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content.decode()[:500]
    out = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if sql.startswith("SELECT") and f'"{table}"' in sql:
                cursor.execute("EXPLAIN " + sql)
                out.append((sql, "\n".join(row[0] for row in cursor.fetchall())))
    assert out, f"{url} ran no query on {table}"
    return out


def assert_no_seq_scan(client: Client, url: str, table: str) -> None:
    for sql, plan in plans_of(client, url, table):
        assert f"Seq Scan on {table}" not in plan, f"{url}\n{sql}\n{plan}"


@pytest.fixture
def many_keys(operator):
    org = organization_create(name="Big", owner=operator)
    bulk(
        """
        INSERT INTO keys_apikey (id, organization_id, created_by_id, name, prefix, secret_hash, allowed_models,
            store_chats, playground, created_at, revoked_at, rotation_id, budget_period)
        SELECT gen_random_uuid(), %s, %s, 'bulk ' || i, 'sk-' || substr(md5(i::text), 1, 7),
            md5(i::text) || md5((i + 1)::text), '{}', false, false, now() - i * interval '1 second',
            CASE WHEN i %% 100 = 0 THEN now() END, '', 'monthly'
        FROM generate_series(1, %s) AS i
        """,
        org.id,
        operator.id,
        ROWS,
    )
    bulk("ANALYZE keys_apikey")
    return org


def test_key_search_filters_and_pages_use_indexes_on_100k_keys(admin_client, many_keys):
    some = ApiKey.objects.order_by("created_at").values_list("prefix", flat=True)[500]
    for url in (
        "/admin/keys/apikey/",
        f"/admin/keys/apikey/?q={some[:6]}",  # a prefix
        f"/admin/keys/apikey/?q={some}",
        f"/admin/keys/apikey/?q={many_keys.id}",  # an organization's keys
        "/admin/keys/apikey/?status=revoked",
        f"/admin/keys/apikey/?status=revoked&q={some[:5]}",
    ):
        assert_no_seq_scan(admin_client, url, "keys_apikey")
    found = admin_client.get(f"/admin/keys/apikey/?q={some}").content.decode()
    assert some in found


def test_the_audit_trail_filters_and_searches_by_index_on_100k_entries(admin_client, operator):
    bulk(
        """
        INSERT INTO audit_auditevent (org_id, actor_id, actor_email, action, target_type, target_id, details,
            user_agent, created_at)
        SELECT CASE WHEN i %% 50 = 0 THEN %s::uuid END, NULL, 'user' || (i %% 1000) || '@example.com',
            (ARRAY['auth.sign_in', 'key.created', 'key.revoked', 'member.invited'])[1 + i %% 4], '', '', '{}', '',
            now() - i * interval '1 second'
        FROM generate_series(1, %s) AS i
        """,
        str(operator.personal_organization.id),
        ROWS,
    )
    bulk("ANALYZE audit_auditevent")
    for url in (
        "/admin/audit/auditevent/",
        "/admin/audit/auditevent/?action__exact=key.revoked",
        f"/admin/audit/auditevent/?q={operator.personal_organization.id}",
        "/admin/audit/auditevent/?q=user42",
    ):
        assert_no_seq_scan(admin_client, url, "audit_auditevent")


def test_user_search_and_queues_use_indexes_on_100k_users(admin_client):
    bulk(
        """
        INSERT INTO accounts_user (id, password, is_superuser, email, name, is_active, is_staff, date_joined,
            approved_at)
        SELECT gen_random_uuid(), '!', false, 'bulk' || i || '@example.com', '', i %% 200 <> 0, false, now(),
            CASE WHEN i %% 100 <> 0 THEN now() END
        FROM generate_series(1, %s) AS i
        """,
        ROWS,
    )
    bulk("ANALYZE accounts_user")
    for url in (
        "/admin/accounts/user/",
        "/admin/accounts/user/?q=BULK123",
        "/admin/accounts/user/?approval=pending",
        "/admin/accounts/user/?is_active__exact=0",
    ):
        assert_no_seq_scan(admin_client, url, "accounts_user")


def test_organization_search_uses_an_index_on_100k_organizations(admin_client):
    bulk(
        """
        INSERT INTO accounts_organization (id, name, timezone, allowed_models, created_at, budget_period)
        SELECT gen_random_uuid(), 'Team ' || i, 'UTC', '{}', now() - i * interval '1 second', 'monthly'
        FROM generate_series(1, %s) AS i
        """,
        ROWS,
    )
    bulk("ANALYZE accounts_organization")
    for url in ("/admin/accounts/organization/", "/admin/accounts/organization/?q=team 12"):
        assert_no_seq_scan(admin_client, url, "accounts_organization")


@pytest.mark.parametrize(
    "page",
    ["/admin/accounts/user/", "/admin/accounts/organization/", "/admin/keys/apikey/", "/admin/audit/auditevent/"],
)
def test_a_changelist_page_runs_the_same_queries_for_5_or_60_rows(
    admin_client, operator, django_assert_max_num_queries, page
):
    from keys.services import key_issue

    def grow(to: int) -> None:
        while User.objects.count() < to:
            user = User.objects.create_user(email=f"u{User.objects.count()}@example.com", password=None)
            org = organization_create(name=f"Team {user.pk}", owner=user)
            key_issue(organization=org, created_by=user, name="k")

    counts = []
    for rows in (5, 60):
        grow(rows)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(page).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(12):
        admin_client.get(page)
