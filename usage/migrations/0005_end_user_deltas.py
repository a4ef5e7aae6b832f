"""End users get deltas too (usage.rollups.deltas_insert writes level 1 since this migration).

The hours that are dirty now were written without them: their end-user deltas are the hour's rows
per end user minus the hour's (stale) end-user rollup, so that, as for every other level, an
hour's rollup plus its deltas is its exact total. The next aggregation takes them with the rest."""

from django.db import migrations

DIRTY_HOURS_END_USER_DELTAS = """
INSERT INTO usage_deltas (bucket, org_id, level, key_id, model, end_user, requests, errors, prompt_tokens,
                          completion_tokens, cost)
SELECT d.bucket, d.org_id, 1, NULL, '', g.end_user, sum(g.requests), sum(g.errors), sum(g.prompt_tokens),
       sum(g.completion_tokens), sum(g.cost)
FROM (SELECT DISTINCT org_id, bucket FROM usage_deltas WHERE level = 2) d
CROSS JOIN LATERAL (
    SELECT coalesce(end_user, '') AS end_user, 1 AS requests, (status <> 'success')::int AS errors, prompt_tokens,
           completion_tokens, cost
    FROM request_logs r
    WHERE r.org_id = d.org_id AND r.created_at >= d.bucket AND r.created_at < d.bucket + interval '1 hour'
    UNION ALL
    SELECT end_user, -requests, -errors, -prompt_tokens, -completion_tokens, -cost
    FROM usage_hourly h
    WHERE h.org_id = d.org_id AND h.level = 1 AND h.bucket = d.bucket
) g
GROUP BY d.bucket, d.org_id, g.end_user
HAVING (sum(g.requests), sum(g.errors), sum(g.prompt_tokens), sum(g.completion_tokens), sum(g.cost))
       <> (0, 0, 0, 0, 0)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_gpu_cost"),
    ]

    operations = [migrations.RunSQL(DIRTY_HOURS_END_USER_DELTAS, migrations.RunSQL.noop)]
