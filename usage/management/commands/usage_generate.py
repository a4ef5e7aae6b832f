"""Synthetic usage for demos and benchmarks: millions of realistic request logs, fast.

Rows are generated inside PostgreSQL (one INSERT … SELECT per batch, a progress bar on stderr):
traffic heavier in working hours, a few keys and models carrying most of it, end users with a
long tail, tokens with long-tailed lengths, the usual mix of failures, 429s, rejections and cut
streams, and costs from the catalog's prices. Each batch writes its deltas, like the ingest.
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Organization, User
from accounts.services import organization_create
from inference.selectors import public_models
from keys.models import ApiKey
from keys.services import key_issue
from usage.partitions import partitions_ensure
from usage.rollups import aggregate_usage, deltas_insert

# One batch: %(n)s rows for one organization. Keys and models are skewed (the first ones carry
# most calls), as are end users; 30 % of calls name no end user.
_BATCH = f"""
WITH rows AS (
    SELECT g,
           %(start)s::timestamptz
             + floor(random() * %(days)s) * interval '1 day'
             + (CASE WHEN random() < 0.7 THEN 8 + random() * 11 ELSE random() * 24 END) * interval '1 hour'
             AS created_at,
           (%(keys)s::uuid[])[1 + floor(power(random(), 2) * %(nkeys)s)::int] AS key_id,
           1 + floor(power(random(), 1.5) * %(nmodels)s)::int AS m,
           CASE WHEN random() < 0.3 THEN NULL
                ELSE 'user-' || floor(power(random(), 3) * %(end_users)s)::int END AS end_user,
           random() AS s,
           (1 + floor(-ln(1 - random()) * 600))::int AS prompt,
           (1 + floor(-ln(1 - random()) * 200))::int AS completion,
           random() < 0.4 AS stream
    FROM generate_series(1, %(n)s) AS g
), shaped AS (
    SELECT *, CASE WHEN s < 0.965 THEN 'success' WHEN s < 0.980 THEN 'failure' WHEN s < 0.990 THEN 'rate_limited'
                   WHEN s < 0.997 THEN 'cancelled' ELSE 'rejected' END AS status
    FROM rows WHERE created_at < %(end)s
), stored AS (
INSERT INTO request_logs (call_id, org_id, key_id, user_id, model, deployment_id, prompt_tokens, completion_tokens,
                          cost, latency_ms, ttft_ms, status, error_type, stream, end_user, tokens_estimated,
                          created_at, ingested_at)
SELECT %(run)s || '-' || (%(offset)s + g), %(org)s, key_id, %(user)s, (%(models)s::text[])[m], NULL,
       CASE WHEN status IN ('success', 'cancelled') THEN prompt ELSE 0 END,
       CASE WHEN status = 'success' THEN completion WHEN status = 'cancelled' THEN completion / 3 ELSE 0 END,
       CASE WHEN status = 'success' THEN round((prompt * (%(price_in)s::numeric[])[m]
                                              + completion * (%(price_out)s::numeric[])[m]) / 1000000, 10)
            WHEN status = 'cancelled' THEN round((prompt * (%(price_in)s::numeric[])[m]
                                                + completion / 3 * (%(price_out)s::numeric[])[m]) / 1000000, 10)
            ELSE 0 END,
       40 + completion * 8 * random(), CASE WHEN stream AND status = 'success' THEN 20 + 200 * random() END,
       status, CASE status WHEN 'failure' THEN 'APIConnectionError' WHEN 'rate_limited' THEN 'RateLimitError'
                           WHEN 'rejected' THEN 'AuthenticationError' END,
       stream, end_user, status = 'cancelled', created_at, created_at + interval '2 seconds'
FROM shaped
RETURNING org_id, key_id, model, end_user, status, prompt_tokens, completion_tokens, cost, created_at
), deltas AS ({deltas_insert("stored")})
SELECT count(*) FROM stored
"""


class Command(BaseCommand):
    help = "Generate realistic synthetic usage (request logs) for demos and benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000, help="how many calls in all (default 100000)")
        parser.add_argument("--org", action="append", default=[], help="an organization id (repeatable)")
        parser.add_argument("--orgs", type=int, default=1, help="without --org: synthetic organizations to create")
        parser.add_argument("--owner", help="email of the synthetic organizations' owner (default: a superuser)")
        parser.add_argument("--keys", type=int, default=8, help="keys per organization (created if missing)")
        parser.add_argument("--days", type=int, default=30, help="the calls span this many days up to now")
        parser.add_argument("--end-users", type=int, default=500, help="distinct end users per organization")
        parser.add_argument("--batch", type=int, default=50_000, help="rows per INSERT")
        parser.add_argument("--aggregate", action="store_true", help="roll the rows up before returning")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["rows"] < 1 or opts["days"] < 1 or opts["keys"] < 1 or opts["batch"] < 1 or opts["end_users"] < 1:
            raise CommandError("--rows, --days, --keys, --end-users and --batch must be positive")
        models = public_models()
        if not models:
            raise CommandError("the catalog has no active model: add one (manage.py catalog_set) first")
        orgs = self._organizations(opts)
        end = timezone.now()
        start = end - timedelta(days=opts["days"])
        partitions_ensure(start=start)
        run = "syn-" + secrets.token_hex(4)
        common = {
            "run": run,
            "start": start,
            "end": end,
            "days": opts["days"],
            "end_users": opts["end_users"],
            "models": [m.name for m in models],
            "nmodels": len(models),
            "price_in": [m.input_price_per_mtok for m in models],
            "price_out": [m.output_price_per_mtok for m in models],
        }
        per_org = [opts["rows"] // len(orgs) + (i < opts["rows"] % len(orgs)) for i in range(len(orgs))]
        bar = tqdm(total=opts["rows"], unit="rows", unit_scale=True, file=sys.stderr, disable=opts["no_progress"])
        inserted = offset = 0
        for org, count in zip(orgs, per_org, strict=True):
            keys = self._keys(org, opts["keys"])
            params = {**common, "org": org.id, "keys": [k.id for k in keys], "nkeys": len(keys),
                      "user": keys[0].created_by_id}  # fmt: skip
            done = 0
            while done < count:
                n = min(opts["batch"], count - done)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(_BATCH, {**params, "n": n, "offset": offset})
                    inserted += cursor.fetchone()[0]
                done, offset = done + n, offset + n
                bar.update(n)
        bar.close()
        self.stdout.write(f"{inserted} request logs for {len(orgs)} organization(s), call ids {run}-*")
        if opts["aggregate"]:
            result = aggregate_usage()
            self.stdout.write(f"rolled up {result.hours} hours, {result.days} days, {result.months} months")

    def _organizations(self, opts: dict[str, Any]) -> list[Organization]:
        if opts["org"]:
            found = list(Organization.objects.filter(pk__in=opts["org"]))
            if len(found) != len(set(opts["org"])):
                raise CommandError("no such organization: " + ", ".join(set(opts["org"]) - {str(o.pk) for o in found}))
            return found
        owner = (
            User.objects.filter(email=opts["owner"]).first()
            if opts["owner"]
            else User.objects.filter(is_superuser=True).order_by("date_joined").first()
        )
        if owner is None:
            raise CommandError("no owner: pass --owner EMAIL of an existing user (or create a superuser)")
        orgs = []
        for i in range(1, opts["orgs"] + 1):
            name = f"Synthetic {i}"
            org = Organization.objects.filter(name=name, memberships__user=owner).first()
            orgs.append(org or organization_create(name=name, owner=owner))
        return orgs

    def _keys(self, org: Organization, wanted: int) -> list[ApiKey]:
        keys = list(ApiKey.objects.filter(organization=org, revoked_at__isnull=True).order_by("created_at")[:wanted])
        owner = org.memberships.order_by("created_at").first()
        creator = keys[0].created_by if keys else (owner.user if owner else None)
        if creator is None:
            raise CommandError(f"organization {org.pk} has no members to own its keys")
        while len(keys) < wanted:
            keys.append(key_issue(organization=org, created_by=creator, name=f"synthetic key {len(keys) + 1}").key)
        return keys
