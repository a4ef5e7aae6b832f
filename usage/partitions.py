"""Monthly partitions of request_logs: created ahead by beat, old ones dropped by retention.

Partitions are named ``request_logs_pYYYYMM`` and cover one UTC month. A DEFAULT partition
catches any row no monthly partition covers (a call stamped far in the past or future), so an
insert never fails for want of a partition; when a month's partition is created later, the rows
the default holds for that month move into it in the same transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

log = logging.getLogger(__name__)

PARENT = "request_logs"
DEFAULT = "request_logs_default"
_NAME = re.compile(r"^request_logs_p(\d{4})(\d{2})$")
_LOCK = 0x11A5_0001  # advisory lock id: one partition maintainer at a time


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def month_start(when: datetime) -> datetime:
    when = when.astimezone(UTC)
    return datetime(when.year, when.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{PARENT}_p{start:%Y%m}"


def partitions() -> list[Partition]:
    """The monthly partitions that exist, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
            found.append(Partition(name, start, add_months(start, 1)))
    return sorted(found, key=lambda p: p.start)


def _create(start: datetime) -> None:
    """Create one month's partition, moving any rows the default partition holds for it."""
    end, name = add_months(start, 1), partition_name(start)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s LIMIT 1", [start, end])
        if cursor.fetchone() is None:
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            return
        # Attaching needs the default partition to hold no row of the new range: move them first.
        cursor.execute(f"LOCK TABLE {PARENT} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
        log.info("partition %s created; %d rows moved from the default partition", name, moved)


def partitions_ensure(*, start: datetime | None = None, end: datetime | None = None, ahead: int = 3) -> list[str]:
    """Make sure a partition exists for every month from ``start`` (default: this month) to
    ``end`` (default: ``ahead`` months after this one). Idempotent; returns the names created."""
    now = datetime.now(UTC)
    first = month_start(start or now)
    last = month_start(end) if end is not None else add_months(month_start(now), ahead)
    created: list[str] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        existing = {p.name for p in partitions()}
        month = first
        while month <= last:
            if partition_name(month) not in existing:
                _create(month)
                created.append(partition_name(month))
            month = add_months(month, 1)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def partitions_drop_before(cutoff: datetime, *, detach_only: bool = False) -> list[str]:
    """Drop (or only detach, to archive them) the monthly partitions that end at or before ``cutoff``."""
    gone: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        for part in partitions():
            if part.end > cutoff:
                continue
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {part.name}")
            if detach_only:  # kept for archiving, under a name no future partition takes
                cursor.execute(f"ALTER TABLE {part.name} RENAME TO {part.name.replace('_p', '_archive_p', 1)}")
            else:
                cursor.execute(f"DROP TABLE {part.name}")
            gone.append(part.name)
    if gone:
        log.info("%s partitions %s", "detached" if detach_only else "dropped", ", ".join(gone))
    return gone
