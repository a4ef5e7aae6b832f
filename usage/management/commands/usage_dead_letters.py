"""List, count and replay the usage records the webhook could not store (usage/dead_letters.py).

manage.py usage_dead_letters list [--limit 50]
manage.py usage_dead_letters stats            # JSON: waiting, total by reason
manage.py usage_dead_letters metrics          # Prometheus text (for a textfile collector)
manage.py usage_dead_letters replay --id 1733312345678-0 [--id …] | --all   # --all skips reason "late"
manage.py usage_dead_letters discard --id 1733312345678-0 [--id …] | --reason late
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.dead_letters import (
    NOT_REPLAYED_BY_ALL,
    dead_letter_metrics,
    dead_letter_stats,
    dead_letters,
    dead_letters_discard,
    dead_letters_replay,
)


class Command(BaseCommand):
    help = "List, count, replay and discard dead-lettered usage records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "stats", "metrics", "replay", "discard"])
        parser.add_argument("--limit", type=int, default=50, help="list: at most this many (oldest first)")
        parser.add_argument(
            "--id", action="append", dest="ids", default=None, help="replay, discard: this entry (repeatable)"
        )
        skipped = ", ".join(sorted(NOT_REPLAYED_BY_ALL))
        parser.add_argument(
            "--all",
            action="store_true",
            help=f"replay: every dead letter except those of reason {skipped} (no replay can store them: "
            "discard them, or replay one by --id)",
        )
        parser.add_argument("--reason", help="discard: every dead letter of this reason (e.g. late)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "stats":
            self.stdout.write(json.dumps(dead_letter_stats()))
        elif action == "metrics":
            self.stdout.write(dead_letter_metrics(), ending="")
        elif action == "list":
            for letter in dead_letters(limit=options["limit"]):
                at = datetime.fromtimestamp(letter.at, tz=UTC).isoformat() if letter.at else "?"
                call = (letter.record or {}).get("call_id")
                self.stdout.write(f"{letter.id}  {at}  {letter.reason:<9} call {call!r}: {letter.error}")
        elif action == "discard":
            if bool(options["ids"]) == bool(options["reason"]):
                raise CommandError("discard needs --id ENTRY (repeatable) or --reason REASON")
            discarded = dead_letters_discard(ids=options["ids"], reason=options["reason"])
            self.stdout.write(f"{discarded} discarded")
        else:
            if bool(options["ids"]) == options["all"]:
                raise CommandError("replay needs --id ENTRY (repeatable) or --all")
            result = dead_letters_replay(ids=None if options["all"] else options["ids"])
            self.stdout.write(
                f"replayed: {result.stored} stored, {result.duplicates} already stored, {result.failed} still dead"
            )
