"""The ledger's writers. Every entry is appended once (unique ``kind`` + ``reference``), in the
caller's transaction, and a prepaid organization's wallet in Redis follows after the commit.

Settled request costs are posted by beat (``ledger_post_usage``), in bulk, from the rollups:
per (organization, UTC hour) the hour's cost (its rollup plus its deltas still waiting: the exact
sum of its request_logs, see usage/rollups.py) minus the list cost already posted for that hour,
at the organization's multiplier. The ingest's hot path stays as it was (a COPY; no extra write
per call), a late record is posted by the next run as a new entry (append-only: never a rewrite),
and the exactness under concurrency that admission needs lives in the Redis wallet, which the
proxy charges as each call settles: the ledger is the record, not the gate.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Organization, User
from billing.models import EntryKind, LedgerEntry
from billing.wallet import wallet_sync

log = logging.getLogger(__name__)

_POST_LOCK = 0x11A5_0B11  # one usage posting at a time: two would post the same difference


def wallet_sync_on_commit(org_id: Any) -> None:
    transaction.on_commit(lambda: wallet_sync(org_id), robust=True)


def entry_append(
    *,
    organization: Organization,
    kind: EntryKind,
    amount: Decimal,
    reference: str,
    memo: str = "",
    by: User | None = None,
) -> tuple[LedgerEntry, bool]:
    """Append one entry, or return the one already there for (kind, reference): (entry, created)."""
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                organization=organization, kind=kind, amount=amount, reference=reference, memo=memo[:255], created_by=by
            )
    except IntegrityError:
        return LedgerEntry.objects.get(kind=kind, reference=reference), False
    wallet_sync_on_commit(organization.pk)
    return entry, True


# Per (organization, hour) since ``since``: the hour's list cost (rollup + pending deltas) minus
# what usage entries posted for it; a new entry for each difference, at the current multiplier.
# One statement: one snapshot, in which a delta and its rolled-up row are never both counted.
_POST = """
WITH cost AS (
    SELECT org_id, bucket, sum(cost) AS cost FROM (
        SELECT org_id, bucket, cost FROM usage_hourly WHERE level = 2 AND bucket >= %(since)s
        UNION ALL
        SELECT org_id, bucket, cost FROM usage_deltas WHERE level = 2 AND bucket >= %(since)s
    ) c
    WHERE %(org)s::uuid IS NULL OR org_id = %(org)s::uuid
    GROUP BY org_id, bucket
), posted AS (
    SELECT organization_id AS org_id, hour AS bucket, sum(list_cost) AS cost, count(*) AS n
    FROM billing_ledger WHERE kind = 'usage' AND hour >= %(since)s
    AND (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
    GROUP BY organization_id, hour
), todo AS (
    SELECT c.org_id, c.bucket, c.cost - coalesce(p.cost, 0) AS diff, coalesce(p.n, 0) AS n
    FROM cost c LEFT JOIN posted p USING (org_id, bucket)
    JOIN accounts_organization o ON o.id = c.org_id
    WHERE c.cost <> coalesce(p.cost, 0)
)
INSERT INTO billing_ledger (organization_id, kind, amount, list_cost, hour, reference, memo, created_at)
SELECT t.org_id, 'usage', -round(t.diff * coalesce(a.price_multiplier, 1), 10), t.diff, t.bucket,
       'usage:' || t.org_id || ':' || to_char(t.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') || ':' || t.n,
       'Calls of ' || to_char(t.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:00') || ' UTC', now()
FROM todo t LEFT JOIN billing_accounts a ON a.organization_id = t.org_id
ON CONFLICT (kind, reference) DO NOTHING
RETURNING organization_id
"""


def usage_post(*, organization_id: Any = None, since: datetime | None = None) -> int:
    """Post settled request costs to the ledger (beat; idempotent: a second run posts nothing
    new). ``since``: the oldest hour to look at (default: 35 days, past any late record a
    retention window lets in). Returns how many entries were appended."""
    since = since or timezone.now() - timedelta(days=35)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_POST_LOCK])
        cursor.execute(_POST, {"since": since, "org": None if organization_id is None else str(organization_id)})
        orgs = {row[0] for row in cursor.fetchall()}
        posted = cursor.rowcount
        for org_id in orgs:
            wallet_sync_on_commit(org_id)
    return posted
