"""The portal's performance budget (issue 16): B10 initial JavaScript, B11 dashboard first render.

B10 reads the production build's manifest (``frontend/dist/.vite/manifest.json``, Vite's
``build.manifest``): the entry chunk of ``index.html`` plus every chunk it imports statically
(``imports``, followed transitively; lazy routes are ``dynamicImports`` and load later) and any
other script ``index.html`` loads (the theme script), each
gzipped (level 9, as a CDN or ``gzip_static`` would serve it) and summed, in kB of 1,000 bytes.

B11 starts an LLMaaS stack of its own (fresh database, no model backend: the dashboard reads
only Django), writes 90 days of synthetic usage for the admin's organization
(``manage.py usage_generate --days 90``, rolled up), then opens ``/dashboard?days=90`` in Debian's
Chromium (``frontend/scripts/bench-dashboard.mjs``, playwright-core) and times, each round in a
fresh tab of a signed-in browser: the document's navigation start → the 90-day chart's first bars
(``performance.now()`` when ``[data-testid=usage-chart] .recharts-bar-rectangle`` appears; the
sign-in redirects before that document are reported beside it); and, in another fresh tab of
``/dashboard`` (30 days), picking "Last 90 days" → the chart redrawn with 90 days of bars.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from stack.processes import free_port
from stack.stack import (
    PORTAL_DIST,
    ROOT,
    ModelSpec,
    Stack,
    StackConfig,
    build_portal,
    delete_vhost,
    drop_database,
    ensure_vhost,
)
from stack.testing import session

MANIFEST = PORTAL_DIST / ".vite" / "manifest.json"
SCRIPT = ROOT / "frontend" / "scripts" / "bench-dashboard.mjs"


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def initial_chunks(manifest: dict[str, Any]) -> list[str]:
    """The files of the entry chunk and its static imports, transitively, in load order."""
    entries = [key for key, chunk in manifest.items() if chunk.get("isEntry")]
    if len(entries) != 1:
        raise RuntimeError(f"expected one entry chunk in the manifest, found {entries}")
    seen: list[str] = []

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.append(key)
        for imported in manifest[key].get("imports", []):
            visit(imported)

    visit(entries[0])
    return [manifest[key]["file"] for key in seen]


def b10_initial_js(dist: Path = PORTAL_DIST) -> dict[str, Any]:
    """Initial JavaScript of the portal, gzipped: the entry chunk plus its static imports."""
    say("B10: building the portal and reading its manifest")
    build_portal()
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text())
    files = initial_chunks(manifest)
    # Classic scripts index.html loads besides the entry (the theme script the build moves out).
    page = (dist / "index.html").read_text()
    files += [f for f in re.findall(r'<script[^>]* src="/(assets/[^"]+\.js)"', page) if f not in files]
    sizes = {}
    for name in files:
        raw = (dist / name).read_bytes()
        sizes[name] = {"raw_kb": round(len(raw) / 1000, 1), "gzip_kb": round(len(gzip.compress(raw, 9)) / 1000, 1)}
    lazy = sorted({f for chunk in manifest.values() for f in [chunk["file"]] if f.endswith(".js")} - set(files))
    return {
        "gzip_kb": round(sum(s["gzip_kb"] for s in sizes.values()), 1),
        "raw_kb": round(sum(s["raw_kb"] for s in sizes.values()), 1),
        "files": sizes,
        "lazy_chunks": len(lazy),
    }


@contextlib.contextmanager
def portal_stack(state: Path) -> Iterator[Stack]:
    """An LLMaaS stack of its own (fresh database, Redis prefix, RabbitMQ vhost, free ports)."""
    run = uuid.uuid4().hex[:8]
    vhost = f"llmaas_bench_portal_{run}"
    ensure_vhost(vhost)
    # Catalog entries only (usage_generate prices the calls from them); nothing calls a backend.
    models = [
        ModelSpec(name, "http://127.0.0.1:9/v1", name, 8192, Decimal(price_in), Decimal(price_out), probe=False)
        for name, price_in, price_out in (("smollm2", "0.10", "0.20"), ("qwen", "0.50", "1.50"), ("llama", "2", "6"))
    ]
    config = StackConfig(
        state_dir=state,
        database_url=f"postgres://postgres@127.0.0.1:5432/llmaas_bench_portal_{run}",
        redis_prefix=f"llmaas-bench-portal-{run}",
        broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        public_port=free_port(),
        django_port=free_port(),
        webhook_port=free_port(),
        litellm_port=free_port(),
        litellm_workers=1,
        models=models,
    )
    stack = Stack(config)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        drop_database(config.database_url)
        delete_vhost(vhost)


def seed_90_days(stack: Stack, rows: int) -> str:
    """90 days of synthetic usage for the admin's current (personal) organization; its id."""
    state = stack.state
    client = session(stack.config.public_url, state["admin_email"], state["admin_password"])
    try:
        org_id = str(client.get("/api/organization").raise_for_status().json()["id"])
    finally:
        client.close()
    stack.manage(
        "usage_generate", "--org", org_id, "--rows", str(rows), "--days", "90", "--keys", "8",
        "--end-users", "500", "--aggregate", "--no-progress",
    )  # fmt: skip
    return org_id


def b11_dashboard_render(state: Path, rounds: int, rows: int) -> dict[str, Any]:
    """Dashboard first render with 90 days of usage in a real browser (median of ``rounds``)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        raise RuntimeError("Debian's chromium is missing: bin/test installs it")
    say(f"B11: a stack of its own, {rows} calls over 90 days, {rounds} dashboard loads in Chromium")
    build_portal()
    load = os.getloadavg()[0]  # a shared machine: how busy it was when the run started
    with portal_stack(state) as stack:
        started = time.perf_counter()
        seed_90_days(stack, rows)
        seeded_s = time.perf_counter() - started
        run = subprocess.run(
            ["node", str(SCRIPT)],
            cwd=ROOT / "frontend",
            env={
                **os.environ,
                "PORTAL_URL": stack.config.public_url,
                "PORTAL_EMAIL": stack.state["admin_email"],
                "PORTAL_PASSWORD": stack.state["admin_password"],
                "ROUNDS": str(rounds),
                "CHROMIUM": chromium,
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    if run.returncode != 0:
        raise RuntimeError(f"bench-dashboard.mjs failed:\n{run.stderr[-3000:]}")
    data = json.loads(run.stdout.strip().splitlines()[-1])

    def median(name: str) -> float:
        return round(statistics.median(data[name]), 1)

    return {
        "first_render_ms": median("first_render_ms"),
        "with_sign_in_ms": median("with_sign_in_ms"),
        "range_90_days_ms": median("range_90_days_ms"),
        "bars_90_days": data["bars_90_days"],
        "rounds": rounds,
        "rows": rows,
        "seeded_s": round(seeded_s, 1),
        "load_average": round(load, 1),
        "samples": {k: data[k] for k in ("first_render_ms", "with_sign_in_ms", "range_90_days_ms")},
        # medians, ms since the navigation start: document parsed, tokens and summary received
        "steps_ms": {name: round(statistics.median(values)) for name, values in data["steps"].items()},
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, float, str, str]]:
    """The report table's rows of B10 and B11 (those measured)."""
    out: list[tuple[str, str, float, str, str]] = []
    if "B10" in results:
        b10 = results["B10"]
        files = ", ".join(f"{name} {s['gzip_kb']}" for name, s in b10["files"].items())
        out.append(("B10", "portal initial JS, gzipped (kB): entry + static imports", b10["gzip_kb"],
                    f"{files}; {b10['raw_kb']} kB raw; {b10['lazy_chunks']} lazy chunks", "≤ 200"))  # fmt: skip
    if "B11" in results:
        b11 = results["B11"]
        detail = f"median of {b11['rounds']}, {b11['rows']} calls over 90 days, load average {b11['load_average']}"
        out.append(("B11", "dashboard 90 days, first render (ms): navigation → bars", b11["first_render_ms"],
                    f"{detail}; with the silent sign-in redirects {b11['with_sign_in_ms']} ms; "
                    f"steps {json.dumps(b11['steps_ms'])}", "≤ 1000"))  # fmt: skip
        out.append(("B11", "dashboard range → 90 days (ms): choice → chart redrawn", b11["range_90_days_ms"],
                    f"{detail}; {b11['bars_90_days']} daily bars", "≤ 1000"))  # fmt: skip
    return out
